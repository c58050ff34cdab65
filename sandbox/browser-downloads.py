"""The sandbox browser's downloads (part 2 of 5, after browser-cdp.py; the Driver inherits this).

Chromium saves a download under a name of its own (the download's guid, `allowAndName`), in a
directory of the browser user that only this driver writes: the name a server suggests (which may be
`../../etc/x`, hold a NUL or run for a kilobyte) never touches a file system here. The cap counts
every download of one action together; one that passes it is cancelled at once (Content-Length
tells before the first byte, else the progress events) and its partial file removed. A finished one
is reported `staged`: the host copies it into /workspace/downloads as the sandbox user, under a
cleaned name (sandbox/browser-downloads.ts), and the staged file is removed at the next action.
"""
import os, tempfile, threading
from browser_cdp import *  # noqa: F401,F403 (joined into one script by sandbox/browser-host.ts: this line is dropped)

# More downloads than this from one action are cancelled (a page can start one per click handler).
MAX_DOWNLOADS_PER_ACTION = 4


class Download:
    def __init__(self, guid, url, suggested, seq):
        self.guid, self.url, self.suggested, self.seq = guid, url, suggested, seq
        self.state = 'inProgress'
        self.received = self.total = 0
        self.why = None  # why it was cancelled by the driver


class Downloads:
    def init_downloads(self, max_bytes):
        self.dl_max = max_bytes
        self.dl_dir = None
        self.dl = {}  # guid -> Download
        self.dl_seq = 0
        self.dl_cond = threading.Condition()
        self.dl_staged = []  # reported to the host; removed at the next action

    def allow_downloads(self, ctx):
        if self.dl_dir is None or not os.path.isdir(self.dl_dir):
            # Readable (not writable) by the sandbox user, who copies finished downloads out of it.
            self.dl_dir = tempfile.mkdtemp(prefix='kortix-downloads-', dir='/tmp')
            os.chmod(self.dl_dir, 0o755)
        self.cdp.send('Browser.setDownloadBehavior', {'behavior': 'allowAndName', 'browserContextId': ctx,
                                                      'downloadPath': self.dl_dir, 'eventsEnabled': True})

    def remove_staged(self):
        for path in self.dl_staged:
            try:
                os.unlink(path)
            except OSError:
                pass
        self.dl_staged = []

    def cancel_download(self, d, why):
        d.why = d.why or why
        self.cdp.post('Browser.cancelDownload', {'guid': d.guid, 'browserContextId': self.ctx})

    def on_download(self, method, params):
        """Browser.download* events (on the dispatch thread). True when the event was one of them."""
        if method == 'Browser.downloadWillBegin':
            with self.dl_cond:
                self.dl_seq += 1
                d = Download(params['guid'], params.get('url', ''), params.get('suggestedFilename', ''), self.dl_seq)
                self.dl[d.guid] = d
                too_many = sum(1 for x in self.dl.values() if x.seq > self.dl_mark) > MAX_DOWNLOADS_PER_ACTION
                self.dl_cond.notify_all()
            for t in list(self.tabs):  # an action waiting for a page load ends: this navigation is a download
                with t.cond:
                    t.cond.notify_all()
            if too_many:
                self.cancel_download(d, f'more than {MAX_DOWNLOADS_PER_ACTION} downloads in one action')
            return True
        if method != 'Browser.downloadProgress':
            return False
        with self.dl_cond:
            d = self.dl.get(params.get('guid'))
            if d is None:
                return True
            d.received = int(params.get('receivedBytes') or 0)
            d.total = int(params.get('totalBytes') or 0)
            if params.get('state') in ('completed', 'canceled'):
                d.state = params['state']
            # The action's downloads together: their announced sizes, else what arrived so far.
            used = sum(max(x.received, x.total) for x in self.dl.values() if x.seq > self.dl_mark and x.why is None)
            over = d.state == 'inProgress' and d.why is None and used > self.dl_max
            self.dl_cond.notify_all()
        if over:
            self.cancel_download(d, f'larger than the download cap of {self.dl_max} bytes')
        return True

    def finish_downloads(self, out, timeout):
        """Waits for the downloads this action started, then says what each became in `out`."""
        with self.dl_cond:
            mine = [d for d in self.dl.values() if d.seq > self.dl_mark]
            if not mine:
                return out
            self.dl_cond.wait_for(lambda: all(d.state != 'inProgress' for d in mine), timeout)
        saved, errors = [], []
        for d in mine:
            name = d.suggested[:1000]
            path = os.path.join(self.dl_dir, d.guid)
            if d.state == 'inProgress':
                self.cancel_download(d, f'not finished within {timeout} s')
            size = self.file_size(path)
            if d.why is None and d.state == 'completed' and size > self.dl_max:
                d.why = f'larger than the download cap of {self.dl_max} bytes'
            if d.why is None and d.state == 'completed' and size >= 0:
                os.chmod(path, 0o644)
                self.dl_staged.append(path)
                saved.append({'suggested': name, 'bytes': size, 'staged': path, 'url': d.url[:300]})
            else:
                got = max(d.received, d.total, size)
                errors.append(f'the download of {name!r} ({got} bytes so far) was cancelled: {d.why or "the browser gave it up"}')
                for p in (path, path + '.crdownload'):
                    try:
                        os.unlink(p)
                    except OSError:
                        pass
            with self.dl_cond:
                self.dl.pop(d.guid, None)
        if saved:
            out['downloads'] = saved
        if errors:
            out['ok'] = False
            out['error'] = '; '.join(errors) if not out.get('error') else f"{out['error']}; {'; '.join(errors)}"
        return out

    @staticmethod
    def file_size(path):
        try:
            st = os.lstat(path)
        except OSError:
            return -1
        return st.st_size if (st.st_mode & 0o170000) == 0o100000 else -1
