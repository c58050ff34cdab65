"""The sandbox browser's socket and command line (part 5 of 5, after browser-driver.py)."""
import json, os, socket, struct, sys, threading, time
from browser_driver import *  # noqa: F401,F403 (joined into one script by sandbox/browser-host.ts: this line is dropped)


# ---- the driver's socket (abstract: no file the shell could replace; peers checked by uid) ----
def peer_uid(conn):
    return struct.unpack('3i', conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]


def serve(driver, server):
    def one(conn):
        with conn:
            try:
                if peer_uid(conn) != os.getuid():
                    return
                conn.settimeout(120)
                data = b''
                while not data.endswith(b'\n'):
                    chunk = conn.recv(1 << 16)
                    if not chunk:
                        return
                    data += chunk
                    if len(data) > 1 << 20:
                        return
                try:
                    reply = driver.handle(json.loads(data))
                except (ValueError, KeyError, TypeError) as err:
                    reply = {'ok': False, 'error': f'bad request: {err}'}
                except Exception as err:
                    reply = {'ok': False, 'error': f'the browser driver failed: {err}'}
                conn.sendall(json.dumps(reply).encode() + b'\n')
            except OSError:
                pass

    while True:
        conn, _ = server.accept()
        threading.Thread(target=one, args=(conn,), daemon=True).start()


def connect(timeout):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(SOCKET_NAME)
    if peer_uid(s) != os.getuid():
        s.close()
        raise ConnectionRefusedError('the socket belongs to another user')
    return s


# The driver is not there: nobody listens (refused), or a driver killed a moment ago still held the socket
# when we connected and its end was then torn down (reset, broken pipe). Either way the host starts it again.
DRIVER_GONE = (ConnectionRefusedError, ConnectionResetError, ConnectionAbortedError, BrokenPipeError, FileNotFoundError)


def request(req, timeout):
    s = connect(timeout)
    with s:
        s.sendall(json.dumps(req).encode() + b'\n')
        data = b''
        while not data.endswith(b'\n'):
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def start(args):
    opts = dict(zip(args[::2], args[1::2]))
    page_js = sys.stdin.read()
    try:
        print(json.dumps(request({'action': 'health'}, 25)))
        return 0
    except (OSError, ValueError):
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(SOCKET_NAME)
    except OSError:
        server = None  # another start won the name: wait for its driver below
    if server and os.fork() == 0:
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        nul = os.open('/dev/null', os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(nul, fd)
        server.listen(16)
        # The warm context gets the proxy the session's requests will name (the container's), so the
        # first action does not make a new context (~120 ms); unreachable until the claim connects it.
        driver = Driver(page_js, opts.get('--proxy') or container_proxy(), int(opts.get('--heap', '256')), int(opts.get('--download-max-bytes', str(16 << 20))))
        try:
            driver.launch()
        except Exception:
            os._exit(1)
        threading.Thread(target=driver.watch, daemon=True).start()
        serve(driver, server)
        os._exit(0)
    if server:
        server.close()
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        try:
            reply = request({'action': 'health'}, 25)
            print(json.dumps(reply))
            return 0 if reply.get('ok') else 1
        except (OSError, ValueError):
            time.sleep(0.05)
    print(json.dumps({'ok': False, 'error': 'the browser driver did not start within 40 s'}))
    return 1


def container_proxy():
    """The egress proxy named in the container's environment, if any."""
    return os.environ.get('KORTIX_BROWSER_PROXY') or os.environ.get('HTTP_PROXY') or None


def with_proxy(req):
    """The session's proxy: the host's word, else the container's (a cold egress sandbox has it in its environment)."""
    if not req.get('proxy'):
        req['proxy'] = container_proxy()
    return req


def relay():
    """A persistent channel for the host: one request a line on stdin, one answer a line on stdout."""
    for line in sys.stdin:
        try:
            req = with_proxy(json.loads(line))
            reply = request(req, int(req.get('timeout_s', 15)) + 40)
        except DRIVER_GONE:
            reply = {'ok': False, 'driver': 'down'}
        except (OSError, ValueError) as err:
            reply = {'ok': False, 'error': f'no answer from the browser driver: {err}'}
        sys.stdout.write(json.dumps(reply) + '\n')
        sys.stdout.flush()
    return 0


def call():
    req = with_proxy(json.loads(sys.stdin.read()))
    try:
        reply = request(req, int(req.get('timeout_s', 15)) + 40)
    except DRIVER_GONE:
        print(json.dumps({'ok': False, 'driver': 'down'}))
        return 3
    except (OSError, ValueError) as err:
        print(json.dumps({'ok': False, 'error': f'no answer from the browser driver: {err}'}))
        return 4
    sys.stdout.write(json.dumps(reply))
    return 0


if __name__ == '__main__':
    cmd = sys.argv[1] if len(sys.argv) > 1 else ''
    sys.exit(start(sys.argv[2:]) if cmd == 'start' else call() if cmd == 'call' else relay() if cmd == 'relay' else 2)
