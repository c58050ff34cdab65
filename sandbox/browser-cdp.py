"""The browser of a sandbox: one headless Chromium per container, and its driver.

Five files, joined into one script by sandbox/browser-host.ts and sent into
the container with `python3 -c` (not baked into the image): browser-cdp.py
(this: the DevTools pipe), browser-downloads.py (downloads, capped),
browser-tabs.py (tabs, capped), browser-driver.py (the Chromium process,
contexts, actions), browser-cli.py (the socket and the commands below). The script is
run as the `browser` user (uid 1001), never as the agent's shell user (1000):
the shell can neither signal nor trace the browser, nor read its profile, nor
talk to the driver (the socket checks its peer's uid).

  start [--proxy URL] [--heap MB] [--download-max-bytes N]
                                    starts the driver (and Chromium) unless one
                                    answers; the page helpers (browser-page.js)
                                    come on stdin. Prints the health answer.
  call                              one request (JSON on stdin) to the driver;
                                    prints its answer. Exit 3: no driver.
  relay                             the same, one request a line, for as long
                                    as stdin stays open (the host's channel).

Chromium talks DevTools over --remote-debugging-pipe (fds 3 and 4): no
debugging port exists, so nothing a page or the shell runs can reach it.
Chromium's own sandbox is off (--no-sandbox): the container is the sandbox
(no user namespaces, no setuid helper, seccomp and no capabilities from the
container). What that trades: a renderer exploit lands in the browser user's
process with the container's limits, instead of inside a second, tighter
sandbox; it can then read what uid 1001 can read in this container (the
workspace) and reach what the container can reach (only the egress proxy).
"""
import json, os, shutil, signal, socket, struct, sys, tempfile, threading, time, queue
from urllib.parse import urlsplit, unquote

# Debian's chromium-headless-shell (the old headless mode: no browser UI, no GTK): a fraction of the
# full browser's memory, the same engine and DevTools protocol.
CHROMIUM = '/usr/lib/chromium/chromium-headless-shell'
SOCKET_NAME = b'\0kortix-browser-driver'
# A warm sandbox has no network: until a session's context names its proxy, nothing leaves.
DEAD_PROXY = 'http://127.0.0.1:9'
MAX_TABS = 8
# Events waiting at most, for the event thread to count as caught up with the browser.
CAUGHT_UP_EVENTS = 20
# How long a new tab's setup may take at first before it is given up (and another one opened, with twice the wait).
NEW_TAB_TIMEOUT_S = 5
# How long opening a blank tab may take in all (its retries with longer waits) before the browser is
# restarted: that, the restart and the action's own timeout stay inside what the CLI and the host wait
# past the action's timeout (40 / 45 s).
NEW_TAB_BUDGET_S = 25
# A page still opening tabs this long after its scripts were stopped has its tab crashed.
STOP_GRACE_S = 1.0
# An action whose browser is found dead this soon after it began is run again once the browser is back.
RETRY_WINDOW_S = 0.5
VIEWPORT = (1280, 800)
FLAGS = [
    '--no-sandbox', '--disable-gpu', '--disable-software-rasterizer', '--disable-quic',
    '--no-first-run', '--no-default-browser-check', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--disable-extensions', '--disable-default-apps', '--disable-breakpad', '--mute-audio',
    '--disable-domain-reliability', '--disable-client-side-phishing-detection', '--metrics-recording-only',
    '--password-store=basic', '--use-mock-keychain', '--no-zygote', '--renderer-process-limit=2',
    '--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication,'
    'CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions,DialMediaRouteProvider',
    f'--window-size={VIEWPORT[0]},{VIEWPORT[1]}', '--remote-debugging-pipe',
]


class CdpError(Exception):
    pass


class BrowserGone(Exception):
    pass


class PagesWedged(CdpError):
    """No tab could be opened, even after the page processes were killed: the driver restarts the browser."""


class Cdp:
    """DevTools protocol over the pipe: NUL-separated JSON, replies matched by id, events to one thread."""

    def __init__(self, wfd, rfd, on_close=None):
        self.w, self.r = wfd, rfd
        self.on_close = on_close
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()
        self.next_id = 1
        self.pending = {}
        self.closed = False
        self.closed_at = None  # time.monotonic() when the pipe closed
        self.events = queue.Queue()
        self.listeners = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._dispatch, daemon=True).start()

    def send(self, method, params=None, session=None, timeout=15):
        with self.lock:
            if self.closed:
                raise BrowserGone('the browser is not running')
            mid = self.next_id
            self.next_id += 1
            slot = [threading.Event(), None]
            self.pending[mid] = slot
        try:
            self._write(mid, method, params, session)
        except OSError:
            raise BrowserGone('the browser is not running')
        if not slot[0].wait(timeout):
            self.pending.pop(mid, None)
            raise CdpError(f'{method}: no answer within {timeout} s')
        reply = slot[1]
        if reply is None:
            raise BrowserGone('the browser stopped')
        if 'error' in reply:
            raise CdpError(f"{method}: {reply['error'].get('message')}")
        return reply.get('result', {})

    def post(self, method, params=None, session=None):
        """A command whose answer nobody waits for (the reader drops it): for the event thread."""
        with self.lock:
            if self.closed:
                return
            mid = self.next_id
            self.next_id += 1
        try:
            self._write(mid, method, params, session)
        except OSError:
            pass

    def _write(self, mid, method, params, session):
        msg = {'id': mid, 'method': method, 'params': params or {}}
        if session:
            msg['sessionId'] = session
        data = json.dumps(msg).encode() + b'\0'
        with self.write_lock:  # the event thread sends too: messages must not interleave on the pipe
            while data:
                data = data[os.write(self.w, data):]

    def _read(self):
        buf = b''
        while True:
            try:
                chunk = os.read(self.r, 1 << 16)
            except OSError:
                chunk = b''
            if not chunk:
                break
            buf += chunk
            while b'\0' in buf:
                raw, buf = buf.split(b'\0', 1)
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                if 'id' in msg:
                    slot = self.pending.pop(msg['id'], None)
                    if slot:
                        slot[1] = msg
                        slot[0].set()
                else:
                    self.events.put(msg)
        with self.lock:
            self.closed = True
            self.closed_at = time.monotonic()
            for slot in self.pending.values():
                slot[0].set()
            self.pending.clear()
        if self.on_close:
            self.on_close()  # at once: an action arriving now waits for the restart instead of failing
        self.events.put(None)

    def _dispatch(self):
        # Listeners may send commands: they run here, never on the reading thread.
        while True:
            msg = self.events.get()
            if msg is None:
                return
            for fn in list(self.listeners):
                try:
                    fn(msg.get('method'), msg.get('params', {}), msg.get('sessionId'))
                except Exception:
                    pass


class Tab:
    """One page target: its session and counters of its main frame's loading, which actions wait on."""

    def __init__(self, target, session):
        self.target, self.session = target, session
        self.cond = threading.Condition()
        self.started = self.stopped = self.loads = self.dcl = 0
        self.crashed = False
        self.world = None


def refusal(url):
    """Why the browser will not load `url` itself (hosts are the egress proxy's business), or None."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ('http', 'https') or url == 'about:blank':
        return None
    if scheme == 'file':
        path = os.path.normpath(unquote(parts.path))
        real = os.path.realpath(path)
        if parts.netloc not in ('', 'localhost') or not (real == '/workspace' or real.startswith('/workspace/')):
            return f'file:// is allowed under /workspace only ({path} resolves to {real})'
        return None
    return f'{scheme}: URLs are not allowed in the sandbox browser (http, https and file:///workspace only)'
