# Copies the browser's finished downloads into /workspace/downloads, run as
# the sandbox user (uid 1000) by sandbox/browser-downloads.ts:
#   python3 -c SCRIPT    stdin: [{"staged": PATH, "name": NAME, "max": BYTES}, ...]
# Prints one JSON list: {"name", "path", "bytes"} or {"error"} per download.
#
# The staged file is the browser user's (uid 1001), in its own directory that
# this user can read but not write. The name was cleaned by the host; it is
# checked again here to be one plain component. Nothing is followed: the
# workspace and downloads directories are opened with O_NOFOLLOW (a link the
# agent planted at /workspace/downloads is refused), the new file is created
# with O_EXCL|O_NOFOLLOW relative to that descriptor (an existing name gets
# " (2)", " (3)", ...), and the copy stops at the cap.
import json
import os
import stat
import sys

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
STAGED_PREFIX = "/tmp/kortix-downloads-"
BROWSER_UID = 1001


def downloads_dir():
    ws = os.open("/workspace", DIR_FLAGS)
    try:
        try:
            os.mkdir("downloads", 0o755, dir_fd=ws)
        except FileExistsError:
            pass
        return os.open("downloads", DIR_FLAGS, dir_fd=ws)
    finally:
        os.close(ws)


def candidates(name):
    yield name
    stem, dot, ext = name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    for n in range(2, 100):
        yield f"{stem} ({n}){dot}{ext}"


def save(d, item):
    staged, name, cap = item["staged"], item["name"], int(item["max"])
    if not staged.startswith(STAGED_PREFIX) or "/.." in staged or name in ("", ".", "..") or "/" in name or "\0" in name:
        return {"error": f"refused to save {name!r}: not a plain file name"}
    src = os.open(staged, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(src)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != BROWSER_UID or st.st_size > cap:
            return {"error": f"refused to save {name!r}: the staged download is not the browser's file within the cap"}
        for cand in candidates(name):
            try:
                dst = os.open(cand, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=d)
                break
            except FileExistsError:
                continue
        else:
            return {"error": f"could not save {name!r}: too many files of that name in /workspace/downloads"}
        written = 0
        try:
            while written <= cap:
                chunk = os.read(src, 1 << 20)
                if not chunk:
                    break
                while chunk:
                    n = os.write(dst, chunk)
                    chunk = chunk[n:]
                    written += n
        except OSError as err:
            os.close(dst)
            os.unlink(cand, dir_fd=d)
            return {"error": f"could not save {name!r} in /workspace/downloads: {os.strerror(err.errno)}"}
        os.close(dst)
        if written > cap:
            os.unlink(cand, dir_fd=d)
            return {"error": f"refused to save {name!r}: larger than the cap"}
        return {"name": cand, "path": f"/workspace/downloads/{cand}", "bytes": written}
    finally:
        os.close(src)


def main():
    items = json.loads(sys.stdin.read())
    try:
        d = downloads_dir()
    except OSError as err:
        print(json.dumps([{"error": f"cannot open /workspace/downloads: {os.strerror(err.errno)} (is it a link?)"} for _ in items]))
        return
    out = []
    for item in items:
        try:
            out.append(save(d, item))
        except OSError as err:
            out.append({"error": f"could not save {item.get('name')!r}: {os.strerror(err.errno)}"})
    print(json.dumps(out))


main()
