# The file tools inside a sandbox, run as the sandbox user by
# sandbox/workspace-files.ts: python3 -c SCRIPT OP PATH [LIMIT].
#
# The policy judges the path as written (in the workflow); so these tools act
# on exactly that path: every component is opened relative to its parent's
# descriptor with O_NOFOLLOW, so no symbolic link is followed anywhere, and a
# link swapped in while the tool runs (by a background process of the same
# user) fails the open instead of redirecting it. A write goes to a new file
# renamed over the name (replacing a link or a hard link's name, never writing
# through it); a read refuses a file with other hard links (its other name is
# a path the policy did not judge).
#
#   write PATH          content on stdin; prints the byte count
#   read PATH LIMIT     prints "<size>\n" then at most LIMIT bytes
#   list PATH LIMIT     prints "<type>\t<size>\t<path>\n" for up to LIMIT entries, four levels deep
#
# Exit 3 with one line on stderr: the tool's refusal, shown to the model.
import errno
import os
import secrets
import stat
import sys

WORKSPACE = "/workspace"
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_DEPTH = 4


def refuse(message):
    sys.stderr.write(message + "\n")
    sys.exit(3)


def why_not(name, parent_fd, shown, err):
    """The refusal for a component that did not open as a directory."""
    try:
        st = os.lstat(name, dir_fd=parent_fd)
    except FileNotFoundError:
        return f"no such file or directory: {shown}"
    except OSError:
        return f"cannot open {shown}: {os.strerror(err.errno)}"
    if stat.S_ISLNK(st.st_mode):
        return f"{shown} is a symbolic link: the file tools do not follow links"
    if not stat.S_ISDIR(st.st_mode):
        return f"{shown} is not a directory"
    return f"cannot open {shown}: {os.strerror(err.errno)}"


def parts_of(path):
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if path.startswith("/") or ".." in parts:
        refuse(f"path {path} must stay inside the workspace")
    return parts


def walk(parts, create):
    """A descriptor of the directory `parts` name under the workspace, through no link."""
    fd = os.open(WORKSPACE, DIR_FLAGS)
    for i, name in enumerate(parts):
        if create:
            try:
                os.mkdir(name, 0o755, dir_fd=fd)
            except FileExistsError:
                pass
            except OSError as err:
                refuse(f"cannot create {'/'.join(parts[: i + 1])}: {os.strerror(err.errno)}")
        try:
            child = os.open(name, DIR_FLAGS, dir_fd=fd)
        except OSError as err:
            refuse(why_not(name, fd, "/".join(parts[: i + 1]), err))
        os.close(fd)
        fd = child
    return fd


def write(path):
    parts = parts_of(path)
    if not parts:
        refuse("path must name a file")
    fd = walk(parts[:-1], create=True)
    name = parts[-1]
    try:
        if stat.S_ISDIR(os.lstat(name, dir_fd=fd).st_mode):
            refuse(f"{path} is a directory")
    except FileNotFoundError:
        pass
    tmp = f".{name[:200]}.kortix-{secrets.token_hex(6)}"
    data = sys.stdin.buffer.read()
    try:
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(out, view) :]
        finally:
            os.close(out)
        os.rename(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
    except OSError as err:
        try:
            os.unlink(tmp, dir_fd=fd)
        except OSError:
            pass
        refuse(f"cannot write {path}: {os.strerror(err.errno)}")
    sys.stdout.write(f"{len(data)}\n")


def read(path, limit):
    parts = parts_of(path)
    fd = walk(parts[:-1], create=False) if parts else None
    if fd is None:
        refuse(f"{path} is a directory, not a file")
    name = parts[-1]
    try:
        # O_NONBLOCK: a fifo does not hang the tool.
        f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
    except OSError as err:
        if err.errno == errno.ENOENT:
            refuse(f"no such file: {path}")
        if err.errno == errno.ELOOP:
            refuse(f"{path} is a symbolic link: the file tools do not follow links")
        refuse(f"cannot open {path}: {os.strerror(err.errno)}")
    st = os.fstat(f)
    if stat.S_ISDIR(st.st_mode):
        refuse(f"{path} is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        refuse(f"{path} is not a regular file")
    if st.st_nlink > 1:
        refuse(f"{path} has {st.st_nlink} hard links: the file tools read only files with one name")
    sys.stdout.buffer.write(f"{st.st_size}\n".encode())
    left = min(limit, st.st_size)
    while left > 0:
        chunk = os.read(f, min(left, 65536))
        if not chunk:
            break
        sys.stdout.buffer.write(chunk)
        left -= len(chunk)


def list_dir(path, limit):
    parts = parts_of(path)
    root = walk(parts, create=False)
    out = sys.stdout
    count = 0

    def visit(fd, prefix, depth):
        nonlocal count
        for name in sorted(os.listdir(fd)):
            if count >= limit:
                return
            try:
                st = os.lstat(name, dir_fd=fd)
            except OSError:
                continue
            kind = "d" if stat.S_ISDIR(st.st_mode) else "f" if stat.S_ISREG(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "o"
            out.write(f"{kind}\t{st.st_size}\t{prefix}{name}\n")
            count += 1
            if kind == "d" and depth < MAX_DEPTH:
                try:
                    child = os.open(name, DIR_FLAGS, dir_fd=fd)
                except OSError:
                    continue
                try:
                    visit(child, f"{prefix}{name}/", depth + 1)
                finally:
                    os.close(child)

    visit(root, "", 1)


op = sys.argv[1]
if op == "write":
    write(sys.argv[2])
elif op == "read":
    read(sys.argv[2], int(sys.argv[3]))
elif op == "list":
    list_dir(sys.argv[2], int(sys.argv[3]))
else:
    refuse(f"unknown operation {op}")
