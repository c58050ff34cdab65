"""The sandbox browser's tabs (part 3 of 5, after browser-downloads.py; the Driver inherits this):
a page target becomes a tab (attached, checked, set up); pages that pages open become tabs up to
MAX_TABS; a page that keeps opening them is stopped; a crashed tab is replaced; the `tabs` action."""
import time
from browser_downloads import *  # noqa: F401,F403 (joined into one script by sandbox/browser-host.ts: this line is dropped)


class Tabs:
    def tab_for(self, target, session=None, timeout=15, deadline=None):
        """The tab of a page target, attached and set up once. Pages it opens attach paused (auto-attach),
        so their first navigation is already under the same checks. A tab whose setup fails is dropped.
        Each command may take `timeout`, and none past `deadline` (a monotonic time) when one is given."""
        def wait():
            return timeout if deadline is None else max(0.1, min(timeout, deadline - time.monotonic()))
        with self.tabs_lock:
            for t in self.tabs:
                if t.target == target:
                    return t
            if session is None:
                session = self.cdp.send('Target.attachToTarget', {'targetId': target, 'flatten': True}, timeout=wait())['sessionId']
            tab = Tab(target, session)
            self.tabs.append(tab)
        s = tab.session
        try:
            self.cdp.send('Page.enable', session=s, timeout=wait())
            self.cdp.send('Fetch.enable', {'patterns': [{'urlPattern': '*', 'resourceType': 'Document', 'requestStage': 'Request'}]}, session=s, timeout=wait())
            self.cdp.send('Emulation.setDeviceMetricsOverride', {'width': VIEWPORT[0], 'height': VIEWPORT[1], 'deviceScaleFactor': 1, 'mobile': False}, session=s, timeout=wait())
            self.cdp.send('Target.setAutoAttach', {'autoAttach': True, 'waitForDebuggerOnStart': True, 'flatten': True}, session=s, timeout=wait())
            self.cdp.send('Runtime.runIfWaitingForDebugger', session=s, timeout=wait())
        except CdpError:
            with self.tabs_lock:
                if tab in self.tabs:
                    self.tabs.remove(tab)
            raise
        return tab

    def new_tab(self):
        """A blank tab. Right after a crash Chromium may put it in a page process that does not answer
        (the dying one, or one still busy with what a flooding page left: at most two serve all tabs).
        Then the page processes are killed once (the browser starts fresh ones; their tabs crash, and the
        active one is replaced at the next action) and another tab is opened, with a longer wait each time
        until NEW_TAB_BUDGET_S is spent: under load a fresh page process can take longer than the first
        wait to answer, and killing it again would only start the wait over. Past the budget the driver
        restarts the whole browser (PagesWedged, see Driver.handle)."""
        deadline = time.monotonic() + NEW_TAB_BUDGET_S
        wait, killed = NEW_TAB_TIMEOUT_S, False
        while True:
            target = None
            try:
                left = max(0.1, deadline - time.monotonic())
                target = self.cdp.send('Target.createTarget', {'url': 'about:blank', 'browserContextId': self.ctx}, timeout=left)['targetId']
                return self.tab_for(target, timeout=wait, deadline=min(deadline, time.monotonic() + wait))
            except CdpError:
                if target is not None:
                    self.cdp.post('Target.closeTarget', {'targetId': target})
            if time.monotonic() + 1 >= deadline:
                raise PagesWedged(f"could not open a tab: the browser's page processes do not answer (tried for {NEW_TAB_BUDGET_S} s)")
            if not killed and self.kill_renderers():
                killed = True
                self.notices.append("the browser's page processes did not answer and were restarted")
            wait *= 2
            time.sleep(0.5)

    def current(self):
        tab = self.active if self.active in self.tabs else None
        if tab is None or tab.crashed:
            if tab is not None:
                self.notices.append('the page crashed (out of memory, or killed) and its tab was closed')
                # Not waited for: a browser that does not answer must not cost the next tab's time.
                self.cdp.post('Target.closeTarget', {'targetId': tab.target})
                if tab in self.tabs:
                    self.tabs.remove(tab)
            live = [t for t in self.tabs if not t.crashed]
            tab = live[-1] if live else self.new_tab()
            self.active = tab
        return tab

    def on_popup(self, info):
        """A page a page opened. On the event thread, so cheap: nothing here waits for an answer (a page
        can open thousands a second, and each one costs the browser memory). Up to the cap it becomes a
        tab at the next action (adopt_popups); past it, it is closed and its opener's scripts stopped."""
        target, opener = info['targetId'], info.get('openerId')
        with self.tabs_lock:
            if target in self.popups or any(t.target == target for t in self.tabs):
                return
            full = len(self.tabs) + len(self.popups) >= MAX_TABS
            if not full:
                self.popups.append(target)
            elif opener in self.popups:  # a popup opening more: not a tab yet, so nothing to stop; closed
                self.popups.remove(opener)
                self.cdp.post('Target.closeTarget', {'targetId': opener})
        if full:
            self.stop_opener(opener)
            self.cdp.post('Target.closeTarget', {'targetId': target})
            self.notices.append(f'the page tried to open more than {MAX_TABS} tabs: the extra ones were closed')

    def adopt_popups(self):
        """The pages pages opened become tabs (before an action). One that does not answer (busy in a
        script, or closed meanwhile) is closed, and so are the rest: they share its page process."""
        with self.tabs_lock:
            pending, self.popups = self.popups, []
        for i, target in enumerate(pending):
            try:
                self.tab_for(target, timeout=NEW_TAB_TIMEOUT_S)
            except CdpError:
                for rest in pending[i:]:
                    self.cdp.post('Target.closeTarget', {'targetId': rest})
                self.notices.append('tabs the page opened that did not answer were closed')
                return

    def stop_opener(self, opener):
        """A page that keeps opening tabs past the cap has its scripts stopped: the running one
        terminated, no new ones run (a timer's loop ends). Its page stays readable (extract works: the
        driver's helpers run through DevTools); a goto in that tab loads the next page with scripts on
        again. A synchronous loop (`for (;;) window.open()`) is not reached by that: a page still
        opening tabs a second later has its tab crashed on purpose (Page.crash interrupts the loop)."""
        tab = next((t for t in self.tabs if t.target == opener), None)
        if tab is None:
            return
        now = time.monotonic()
        since = self.stopped_openers.get(tab.target)
        if since is None:
            self.stopped_openers[tab.target] = now
            self.notices.append("that page's scripts were stopped")
            self.cdp.post('Runtime.terminateExecution', {}, session=tab.session)
            self.cdp.post('Emulation.setScriptExecutionDisabled', {'value': True}, session=tab.session)
        elif since > 0 and now - since > STOP_GRACE_S and self.cdp.events.qsize() < CAUGHT_UP_EVENTS:
            # (Caught up with the events: a backlog of tabs it opened before it was stopped does not count.)
            self.stopped_openers[tab.target] = -1.0  # crashed once
            self.notices.append('it went on opening tabs, so its tab was crashed on purpose')
            self.cdp.post('Page.crash', {}, session=tab.session)

    def tabs_action(self, req):
        op = req.get('op', 'list')
        live = [t for t in self.tabs if not t.crashed]
        if op in ('switch', 'close'):
            i = int(req.get('index', 0))
            if not 1 <= i <= len(live):
                return {'ok': False, 'error': f'there is no tab {i} (there are {len(live)})'}
            tab = live[i - 1]
            if op == 'switch':
                self.active = tab
                self.cdp.send('Target.activateTarget', {'targetId': tab.target})
            else:
                self.cdp.send('Target.closeTarget', {'targetId': tab.target})
                if tab in self.tabs:
                    self.tabs.remove(tab)
                if self.active is tab:
                    self.active = None
                self.current()
        # From the browser's side: a tab whose page is busy (a script in a loop) is listed all the same.
        infos = {i['targetId']: i for i in self.cdp.send('Target.getTargets').get('targetInfos', [])}
        listing = []
        for n, t in enumerate([t for t in self.tabs if not t.crashed], 1):
            info = infos.get(t.target, {})
            listing.append({'index': n, 'url': info.get('url', ''), 'title': info.get('title', ''), 'active': t is self.active})
        return {'ok': True, 'action': 'tabs', 'op': op, 'tabs': listing}
