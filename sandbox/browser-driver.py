"""The sandbox browser's driver (part 4 of 5, after browser-tabs.py): the Chromium process, the session's context, and the actions."""
import os, shutil, signal, tempfile, threading, time
from browser_tabs import *  # noqa: F401,F403 (joined into one script by sandbox/browser-host.ts: this line is dropped)


class Driver(Downloads, Tabs):
    def __init__(self, page_js, proxy, heap_mb, download_max_bytes):
        self.proxy, self.heap_mb = proxy, heap_mb
        # The helpers (an expression), installed in the isolated world by the first call of each document.
        self.page_call = 'function(fn, a) { const h = globalThis.__kortix || (globalThis.__kortix = ' + page_js + '\n); return h[fn](...a); }'
        self.init_downloads(download_max_bytes)
        self.dl_mark = 0  # downloads numbered above it began during the current action
        self.stopped_openers = {}  # tab -> when its scripts were stopped for opening too many tabs (-1: crashed)
        self.popups = []  # pages opened by pages, not yet tabs (adopted at the next action)
        self.proc = self.cdp = self.dir = None
        self.ctx = None
        self.ctx_proxy = None
        self.tabs = []  # Tab, in the order they opened
        self.active = None
        self.lock = threading.RLock()
        self.tabs_lock = threading.Lock()
        self.up = threading.Event()
        self.restarts = 0
        self.killed_on_purpose = False
        self.notices = []
        self.refused = []
        self.stopping = False

    # ---- the Chromium process ----
    def launch(self):
        self.dir = tempfile.mkdtemp(prefix='kortix-browser-', dir='/tmp')
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        hi_r, hi_w = os.dup(cmd_r), os.dup(res_w)
        env = {'HOME': self.dir, 'XDG_CONFIG_HOME': self.dir + '/config', 'XDG_CACHE_HOME': self.dir + '/cache',
               'LANG': 'C.UTF-8', 'PATH': '/usr/bin:/bin', 'TMPDIR': self.dir}

        def fds():
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)
            # When the container runs out of memory, the kernel kills the browser (a page that allocates
            # without end: its renderer has the most memory) before the agent's shell or this driver.
            try:
                with open('/proc/self/oom_score_adj', 'w') as f:
                    f.write('500')
            except OSError:
                pass

        import subprocess
        args = [CHROMIUM, *FLAGS, f'--user-data-dir={self.dir}/profile', f'--proxy-server={DEAD_PROXY}',
                f'--js-flags=--max-old-space-size={self.heap_mb}', 'about:blank']
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=fds, pass_fds=(3, 4), start_new_session=True)
        for fd in (cmd_r, res_w, hi_r, hi_w):
            os.close(fd)
        self.cdp = Cdp(cmd_w, res_r, on_close=self.up.clear)
        self.cdp.listeners.append(self.on_event)
        self.cdp.send('Browser.getVersion', timeout=30)
        self.cdp.send('Target.setDiscoverTargets', {'discover': True})
        self.ctx = self.ctx_proxy = None
        self.tabs, self.active, self.popups = [], None, []
        self.stopped_openers = {}
        self.open_context(self.proxy)
        self.up.set()

    def watch(self):
        """Restarts Chromium whenever it ends (crash, kill, OOM): the session gets a notice, not a failure."""
        backoff = [0.2, 1, 3, 5]
        quick = 0
        while not self.stopping:
            started = time.monotonic()
            code = self.proc.wait()
            self.up.clear()
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            shutil.rmtree(self.dir, ignore_errors=True)
            if self.stopping:
                return
            how = f'killed by signal {-code}' if code < 0 else f'exit status {code}'
            self.restarts += 1
            if not self.killed_on_purpose:  # (restart_browser says why itself)
                self.notices.append(f'The browser stopped ({how}) and was restarted: open tabs and page state are gone; call goto again.')
            self.killed_on_purpose = False
            quick = quick + 1 if time.monotonic() - started < 10 else 0
            time.sleep(backoff[min(quick, len(backoff) - 1)])
            with self.lock:
                try:
                    self.launch()
                except Exception as err:  # the next wait() sees the dead process again
                    self.notices.append(f'restarting the browser failed: {err}')

    def restart_browser(self, cdp):
        """Kills Chromium (the watcher starts it again) and returns once its pipe is seen closed: from
        then on `up` stays clear until the new one is up. Not under self.lock, which the watcher takes."""
        self.notices.append("no tab could be opened even in fresh page processes, so the browser was restarted: open tabs and page state are gone")
        self.killed_on_purpose = True
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:  # gone already: the watcher says so itself, now or at the next end
            self.killed_on_purpose = False
        deadline = time.monotonic() + 10
        while cdp.closed_at is None and time.monotonic() < deadline:
            time.sleep(0.05)

    def kill_renderers(self):
        """Kills Chromium's page processes (its children run with --type=renderer; --no-zygote makes them
        direct children). The browser process stays and starts new ones. How many were killed."""
        killed = 0
        browser = self.proc.pid if self.proc else None
        for name in os.listdir('/proc'):
            if not name.isdigit():
                continue
            try:
                with open(f'/proc/{name}/stat', 'rb') as f:
                    ppid = int(f.read().rsplit(b')', 1)[1].split()[1])
                if ppid != browser:
                    continue
                with open(f'/proc/{name}/cmdline', 'rb') as f:
                    if b'--type=renderer' not in f.read():
                        continue
                os.kill(int(name), signal.SIGKILL)
                killed += 1
            except (OSError, ValueError, IndexError):
                pass  # gone meanwhile
        return killed

    # ---- contexts and tabs ----
    def open_context(self, proxy):
        """The session's pages live in a browser context of their own, through the session's egress proxy."""
        if self.ctx:
            try:
                self.cdp.send('Target.disposeBrowserContext', {'browserContextId': self.ctx})
            except CdpError:
                pass
        # '<-loopback>': a page's requests to loopback go to the proxy too (which refuses them), instead of
        # Chromium's implicit direct bypass; the driver's own pipe is no network at all.
        params = {'proxyServer': proxy or DEAD_PROXY, 'proxyBypassList': '<-loopback>'}
        self.ctx = self.cdp.send('Target.createBrowserContext', params)['browserContextId']
        self.ctx_proxy = proxy
        self.tabs, self.active = [], None
        self.allow_downloads(self.ctx)
        target = self.cdp.send('Target.createTarget', {'url': 'about:blank', 'browserContextId': self.ctx})['targetId']
        self.active = self.tab_for(target)

    def on_event(self, method, params, session):
        if method.startswith('Browser.download') and self.on_download(method, params):
            return
        if method == 'Fetch.requestPaused':
            why = refusal(params['request']['url'])
            if why:
                self.refused.append({'url': params['request']['url'][:300], 'reason': why})
                self.cdp.post('Fetch.failRequest', {'requestId': params['requestId'], 'errorReason': 'BlockedByClient'}, session=session)
            else:
                self.cdp.post('Fetch.continueRequest', {'requestId': params['requestId']}, session=session)
            return
        if method == 'Target.targetCreated':
            info = params['targetInfo']
            # A page opened by a page (window.open, target=_blank): a tab of the session, up to the cap.
            if info.get('type') == 'page' and info.get('openerId') and info.get('browserContextId') == self.ctx:
                self.on_popup(info)
            return
        if method == 'Target.attachedToTarget':
            info = params['targetInfo']
            if info.get('type') != 'page':
                self.cdp.post('Runtime.runIfWaitingForDebugger', session=params['sessionId'])
            elif len(self.tabs) >= MAX_TABS:
                self.cdp.post('Target.closeTarget', {'targetId': info['targetId']})
                self.notices.append(f'the page tried to open more than {MAX_TABS} tabs: the extra ones were closed')
                self.stop_opener(info.get('openerId'))
            else:
                self.tab_for(info['targetId'], params['sessionId'])
            return
        if method in ('Target.targetDestroyed', 'Target.targetCrashed'):
            with self.tabs_lock:
                if params.get('targetId') in self.popups:
                    self.popups.remove(params['targetId'])
            for t in self.tabs:
                if t.target == params.get('targetId'):
                    with t.cond:
                        t.crashed = method == 'Target.targetCrashed'
                        t.cond.notify_all()
                    if method == 'Target.targetDestroyed':
                        self.tabs.remove(t)
            return
        tab = next((t for t in self.tabs if t.session == session), None)
        if not tab:
            return
        with tab.cond:
            # A page target's main frame has the target's id.
            if method == 'Page.frameStartedLoading' and params.get('frameId') == tab.target:
                tab.started += 1
            elif method == 'Page.frameStoppedLoading':
                tab.stopped += 1
            elif method == 'Page.loadEventFired':
                tab.loads += 1
            elif method == 'Page.domContentEventFired':
                tab.dcl += 1
            elif method == 'Page.frameNavigated' and not params['frame'].get('parentId'):
                tab.world = None
            elif method == 'Inspector.targetCrashed':
                tab.crashed = True
            tab.cond.notify_all()

    # ---- in-page helpers ----
    def world(self, tab):
        """The helpers' isolated world in the tab's main frame (whose id is the target's), made once per document."""
        args = {'frameId': tab.target, 'worldName': 'kortix', 'grantUniveralAccess': False}
        try:
            return self.cdp.send('Page.createIsolatedWorld', args, session=tab.session)['executionContextId']
        except CdpError:
            args['frameId'] = self.cdp.send('Page.getFrameTree', session=tab.session)['frameTree']['frame']['id']
            return self.cdp.send('Page.createIsolatedWorld', args, session=tab.session)['executionContextId']

    def page(self, tab, fn, *args):
        """Calls a helper of browser-page.js in the page: one round trip (two on a new document, whose
        world is made and the helpers installed by the same call)."""
        for attempt in (0, 1):
            if tab.world is None:
                tab.world = self.world(tab)
            try:
                r = self.cdp.send('Runtime.callFunctionOn', {
                    'functionDeclaration': self.page_call, 'executionContextId': tab.world,
                    'arguments': [{'value': fn}, {'value': list(args)}], 'returnByValue': True, 'awaitPromise': True}, session=tab.session, timeout=20)
            except CdpError:
                tab.world = None
                if attempt:
                    raise
                continue
            if 'exceptionDetails' in r:
                raise CdpError(r['exceptionDetails'].get('exception', {}).get('description', 'script error')[:300])
            return r['result'].get('value')

    def wait_loaded(self, tab, before, timeout):
        """After an action: if a navigation starts within 400 ms, wait for its load (until `timeout`)."""
        deadline = time.monotonic() + timeout
        with tab.cond:
            tab.cond.wait_for(lambda: tab.started > before[0] or tab.crashed or self.dl_seq > before[3], 0.4)
            if tab.started == before[0] and not tab.crashed and self.dl_seq == before[3]:
                return 'none'
            ok = tab.cond.wait_for(lambda: tab.loads > before[1] or tab.crashed or self.dl_seq > before[3], max(0, deadline - time.monotonic()))
            if tab.crashed:
                return 'crashed'
            if self.dl_seq > before[3]:
                return 'download'  # a navigation that became a download: the page stays as it was
            if ok:
                return 'loaded'
            return 'interactive' if tab.dcl > before[2] else 'timeout'

    def marks(self, tab):
        with tab.cond:
            return (tab.started, tab.loads, tab.dcl, self.dl_seq)

    # ---- actions ----
    def handle(self, req):
        if req.get('action') == 'health':
            return self.health()
        out = {'ok': False, 'error': 'the browser stopped: it is being restarted, retry'}
        started = time.monotonic()
        for attempt in (0, 1):
            if not self.up.wait(30):
                return {'ok': False, 'error': 'the browser did not come back up within 30 s'}
            wedged = None
            with self.lock:
                if not self.up.is_set():
                    continue
                cdp = self.cdp
                try:
                    out = self.act_in_context(req)
                    break
                except PagesWedged as err:
                    # No tab opens, even in fresh page processes (seen after a page flooded the browser
                    # with tabs). The action had not begun (its tab comes first; only `tabs close` had
                    # closed its tab, gone now with the rest): once the browser is restarted, it runs.
                    if attempt:
                        out = {'ok': False, 'error': str(err)}
                        break
                    wedged = cdp
                except BrowserGone:
                    # Dead before the action could do anything (killed just before it; its end not yet
                    # seen): once the watcher restarted it, run the action. Dead later, the action may
                    # be what killed it (a page eating the memory): it is not run again.
                    if attempt == 0 and (cdp.closed_at or time.monotonic()) - started < RETRY_WINDOW_S:
                        time.sleep(0.2)
                        continue
                    out = {'ok': False, 'error': 'the browser stopped during the action (it is being restarted; the action was not run again)'}
                    break
                except CdpError as err:
                    out = {'ok': False, 'error': str(err)}
                    break
            if wedged:
                self.restart_browser(wedged)
        with self.lock:
            if self.refused:
                out['refused'] = self.refused[:10]
            if self.notices:
                out['notice'] = ' '.join(dict.fromkeys(self.notices))
                self.notices = []
            return out

    def health(self):
        """The pool's probe of an idle sandbox. Restart notices are dropped: no session had pages here."""
        for _ in (0, 1):  # a browser found dead is waited for once: the watcher restarts it
            if not self.up.wait(20):
                return {'ok': False, 'error': 'the browser is not up'}
            try:
                v = self.cdp.send('Browser.getVersion', timeout=5)
                with self.lock:
                    self.notices = []
                return {'ok': True, 'browser': v.get('product'), 'pid': self.proc.pid, 'restarts': self.restarts}
            except BrowserGone:
                time.sleep(0.2)
        return {'ok': False, 'error': 'the browser stopped and is not back yet'}

    def act_in_context(self, req):
        self.refused = []
        self.remove_staged()  # the host copied them out after the last action
        with self.dl_cond:
            self.dl_mark = self.dl_seq
        proxy = req.get('proxy') or None
        if self.ctx is None or proxy != self.ctx_proxy:
            self.open_context(proxy)
        self.adopt_popups()
        timeout = max(1, min(int(req.get('timeout_s', 15)), 60))
        return self.finish_downloads(self.act(req, timeout), timeout)

    def settle(self, tab, before, timeout, out):
        state = self.wait_loaded(tab, before, timeout)
        if state == 'crashed':
            return {'ok': False, 'error': 'the page crashed (out of memory, or killed); its tab is closed at the next action'}
        if state in ('timeout', 'interactive'):
            self.cdp.send('Page.stopLoading', session=tab.session)
            out['loading'] = f'the page had not finished loading after {timeout} s; loading was stopped'
            if state == 'timeout':
                out['ok'] = False
                out['error'] = f'timeout: the page did not load within {timeout} s'
        out['navigated'] = state not in ('none', 'download')
        info = self.page(tab, 'summary', 600)
        out.update(url=info['url'], title=info['title'])
        if out['navigated']:
            out['text'] = info['text']
        return out

    def act(self, req, timeout):
        action = req.get('action')
        tab = self.current()
        before_url = self.page(tab, 'info')['url'] if action != 'goto' else None
        if action == 'goto':
            url = req['url']
            why = refusal(url)
            if why:
                return {'ok': False, 'error': f'navigation refused: {why}'}
            before = self.marks(tab)
            if tab.target in self.stopped_openers:  # a new page in a tab whose scripts were stopped: scripts on again
                del self.stopped_openers[tab.target]
                self.cdp.send('Emulation.setScriptExecutionDisabled', {'value': False}, session=tab.session)
            r = self.cdp.send('Page.navigate', {'url': url}, session=tab.session, timeout=timeout)
            if not r.get('loaderId') and not r.get('errorText'):
                # The same document (a #fragment): no load follows, so nothing to wait for.
                info = self.page(tab, 'summary', 600)
                return {'ok': True, 'action': 'goto', 'navigated': True, 'url': info['url'], 'title': info['title'], 'text': info['text']}
            if r.get('errorText') == 'net::ERR_ABORTED':
                # A download aborts the navigation; its event may still be queued behind others.
                with self.dl_cond:
                    download = self.dl_cond.wait_for(lambda: self.dl_seq > before[3], 1.0)
                if download:
                    info = self.page(tab, 'info')
                    return {'ok': True, 'action': 'goto', 'navigated': False, 'url': info['url'], 'title': info['title']}
            if r.get('errorText'):
                reason = self.refused[0]['reason'] if self.refused else r['errorText']
                return {'ok': False, 'error': f'navigation to {url[:300]} failed: {reason}', **self.page(tab, 'info')}
            return self.settle(tab, (before[0] - 1, *before[1:]), timeout, {'ok': True, 'action': 'goto'})
        if action == 'click':
            target = {k: req[k] for k in ('selector', 'text', 'link') if k in req}
            at = self.page(tab, 'locate', target)
            if at.get('error'):
                return {'ok': False, 'error': f"element not found: {at['error']}"}
            before = self.marks(tab)
            for kind in ('mouseMoved', 'mousePressed', 'mouseReleased'):
                self.cdp.send('Input.dispatchMouseEvent', {'type': kind, 'x': at['x'], 'y': at['y'], 'button': 'left', 'clickCount': 1}, session=tab.session)
            out = {'ok': True, 'action': 'click', 'clicked': at['element'], 'near': at['near']}
            return self.changed(self.settle(tab, before, timeout, out), before_url)
        if action == 'type':
            f = self.page(tab, 'focus', req['selector'])
            if f.get('error'):
                return {'ok': False, 'error': f"element not found: {f['error']}"}
            self.cdp.send('Input.insertText', {'text': req['text']}, session=tab.session)
            v = self.page(tab, 'value', req['selector'])
            info = self.page(tab, 'info')
            return {'ok': True, 'action': 'type', 'field': f['element'], 'value': v['value'], 'near': v['near'], 'url': info['url'], 'title': info['title']}
        if action == 'press':
            before = self.marks(tab)
            self.press(tab, req['key'])
            return self.changed(self.settle(tab, before, timeout, {'ok': True, 'action': 'press', 'key': req['key']}), before_url)
        if action == 'back':
            h = self.cdp.send('Page.getNavigationHistory', session=tab.session)
            if h['currentIndex'] <= 0:
                return {'ok': False, 'error': 'there is no earlier page in this tab', **self.page(tab, 'info')}
            before = self.marks(tab)
            self.cdp.send('Page.navigateToHistoryEntry', {'entryId': h['entries'][h['currentIndex'] - 1]['id']}, session=tab.session)
            return self.changed(self.settle(tab, before, timeout, {'ok': True, 'action': 'back'}), before_url)
        if action == 'extract':
            info = self.page(tab, 'info')
            ex = self.page(tab, 'extract', int(req.get('max_chars', 20000)))
            return {'ok': True, 'action': 'extract', 'url': info['url'], 'title': info['title'], **ex}
        if action == 'screenshot':
            m = self.cdp.send('Page.getLayoutMetrics', session=tab.session)['cssVisualViewport']
            scale = float(req.get('scale', 0.5))
            clip = {'x': m['pageX'], 'y': m['pageY'], 'width': m['clientWidth'], 'height': m['clientHeight'], 'scale': scale}
            shot = self.cdp.send('Page.captureScreenshot', {'format': 'png', 'clip': clip}, session=tab.session, timeout=timeout)
            fmt = 'png'
            if len(shot['data']) > int(req.get('max_bytes', 400000)) * 4 // 3:
                shot = self.cdp.send('Page.captureScreenshot', {'format': 'jpeg', 'quality': 60, 'clip': clip}, session=tab.session, timeout=timeout)
                fmt = 'jpeg'
            info = self.page(tab, 'info')
            return {'ok': True, 'action': 'screenshot', 'url': info['url'], 'title': info['title'],
                    'image': {'format': fmt, 'width': round(m['clientWidth'] * scale), 'height': round(m['clientHeight'] * scale), 'data': shot['data']}}
        if action == 'tabs':
            return self.tabs_action(req)
        return {'ok': False, 'error': f'unknown action {action!r}'}

    def changed(self, out, before_url):
        if out.get('url') and before_url is not None:
            out['url_changed'] = out['url'] != before_url
        return out

    KEYS = {'Enter': (13, '\r'), 'Tab': (9, ''), 'Escape': (27, ''), 'Backspace': (8, ''), 'Delete': (46, ''),
            'ArrowUp': (38, ''), 'ArrowDown': (40, ''), 'ArrowLeft': (37, ''), 'ArrowRight': (39, ''),
            'PageUp': (33, ''), 'PageDown': (34, ''), 'Home': (36, ''), 'End': (35, ''), 'Space': (32, ' ')}

    def press(self, tab, key):
        code, text = self.KEYS.get(key, (ord(key.upper()) if len(key) == 1 else 0, key if len(key) == 1 else ''))
        name = ' ' if key == 'Space' else key
        down = {'type': 'keyDown' if text else 'rawKeyDown', 'key': name, 'windowsVirtualKeyCode': code, 'text': text, 'unmodifiedText': text}
        self.cdp.send('Input.dispatchKeyEvent', down, session=tab.session)
        self.cdp.send('Input.dispatchKeyEvent', {'type': 'keyUp', 'key': name, 'windowsVirtualKeyCode': code}, session=tab.session)
