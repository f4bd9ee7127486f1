"""The endpoint health panel: worker and job counters, refreshed every few seconds, with a
chart of the last minutes.

Polling runs on the engine and stops when the panel is closed (its Stop button,
:meth:`HealthPanel.close`, or its widget closed), when the endpoint is gone (404), when
the key is refused, or when a newer panel for the same endpoint takes over.  It then
leaves a static reading in the cell.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections import deque
from typing import Any

from rp_jupyter.notebook.context import display_mode
from rp_jupyter.notebook.health_chart import health_chart_svg, health_table_html, health_text
from rp_jupyter.notebook.live_view import LiveView
from rp_jupyter.notebook.markup import FONT, MUTED, esc
from rp_jupyter.notebook.presented import mark_presented, presented_in_this_cell
from rp_jupyter.notebook.sweep_inputs import as_endpoint

__all__ = ["HealthPanel", "health_panel", "show_health", "static_health_bundle"]

HISTORY_SECONDS = 600.0
MIN_INTERVAL = 0.5
_ACTIVE: dict[tuple[str, str], weakref.ref[HealthPanel]] = {}
_ACTIVE_LOCK = threading.Lock()


def static_health_bundle(
    endpoint_id: str, history: list[tuple[float, Any]], note: str | None = None
) -> dict[str, Any]:
    """The latest reading (and the chart, if there is history) as text/plain + text/html."""
    at, health = history[-1]
    text = health_text(endpoint_id, health, at) + (f"\n{note}" if note else "")
    stamp = time.strftime("%H:%M:%S", time.localtime(at))
    extra = f' · <span style="{MUTED}">{esc(note)}</span>' if note else ""
    html = (
        f'<div style="{FONT}"><b>{esc(endpoint_id)}</b> health at {stamp}{extra}'
        f"{health_table_html(health)}{health_chart_svg(history)}</div>"
    )
    return {"text/plain": text, "text/html": html}


class HealthPanel(LiveView):
    """A live health panel (see the module docstring).  ``interval`` can be changed at any
    time, from Python or the panel's own box."""

    def __init__(self, endpoint: Any, *, interval: float = 5.0) -> None:
        import ipywidgets as widgets

        super().__init__()
        self.endpoint = endpoint
        self._interval = max(MIN_INTERVAL, float(interval))
        self.history: deque[tuple[float, Any]] = deque()
        self.error: BaseException | None = None
        self.stopped_because: str | None = None
        self.closed = False
        self.polls = 0
        self._dirty = True
        self._wake: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._future: Any = None
        self.html = widgets.HTML(f'<div style="{FONT};{MUTED}">reading health…</div>')
        self.interval_box = widgets.BoundedFloatText(
            value=self._interval,
            min=MIN_INTERVAL,
            max=3600,
            step=1,
            description="every (s)",
            layout=widgets.Layout(width="160px"),
            style={"description_width": "initial"},
        )
        self.interval_box.observe(
            lambda change: setattr(self, "interval", change["new"]), names="value"
        )
        self.stop_button = self.action_button(
            "Stop", lambda: self.act(None, "stop", self.close, pending="stopping…"), icon="stop"
        )
        self.box = widgets.VBox([self.html, widgets.HBox([self.interval_box, self.stop_button])])

    def __repr__(self) -> str:
        state = self.stopped_because or "polling"
        return f"<HealthPanel {self.endpoint.endpoint_id!r} every {self._interval:g} s: {state}>"

    @property
    def interval(self) -> float:
        return self._interval

    @interval.setter
    def interval(self, seconds: float) -> None:
        self._interval = max(MIN_INTERVAL, float(seconds))
        self._poke()

    @property
    def latest(self) -> Any:
        return self.history[-1][1] if self.history else None

    # -- polling (engine) ---------------------------------------------------------------

    def start(self) -> HealthPanel:
        key = (self.endpoint.base_url, self.endpoint.endpoint_id)
        with _ACTIVE_LOCK:
            previous = _ACTIVE.get(key)
            _ACTIVE[key] = weakref.ref(self)
        older = previous() if previous is not None else None
        if older is not None and older is not self:
            older.close("a newer health panel for this endpoint took over")
        self._future = self.endpoint.runtime.engine.submit(self._poll())
        return self

    async def _poll(self) -> None:
        from rp_jupyter.api.errors import AuthenticationError, EndpointNotFoundError

        wake = asyncio.Event()
        self._wake = (asyncio.get_running_loop(), wake)
        reason = None
        while reason is None and not self.closed:
            if self.html.comm is None:
                reason = "the panel was closed"
                break
            try:
                health = await self.endpoint.ahealth()
            except EndpointNotFoundError as exc:
                self.error, reason = exc, "the endpoint is gone (404)"
            except AuthenticationError as exc:
                self.error, reason = exc, "the API key was refused"
            except Exception as exc:  # keep polling through network trouble
                self.error = exc
            else:
                self.error = None
                self._record(health)
            self.polls += 1
            self._mark_dirty()
            if reason is not None:
                break
            try:
                await asyncio.wait_for(wake.wait(), self._interval)
            except asyncio.TimeoutError:
                pass
            wake.clear()
        self._stop(reason or "stopped")

    def _record(self, health: Any) -> None:
        now = time.time()
        self.history.append((now, health))
        while self.history and self.history[0][0] < now - HISTORY_SECONDS:
            self.history.popleft()

    def _poke(self) -> None:
        if self._wake is not None:
            loop, event = self._wake
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:
                pass

    def close(self, reason: str = "stopped") -> None:
        """Stop polling; the cell keeps the last reading."""
        if self.closed:
            return
        self.closed = True
        self.stopped_because = reason
        self._poke()
        if self._future is None:
            self._stop(reason)

    def _stop(self, reason: str) -> None:
        with self.lock:
            self.closed = True
            self.stopped_because = self.stopped_because or reason
        self._mark_dirty()

    def _mark_dirty(self) -> None:
        self._dirty = True
        self.wake()

    # -- display ------------------------------------------------------------------------

    def _live_html(self) -> str:
        if not self.history:
            body = f'<div style="{MUTED}">reading health…</div>'
        else:
            body = static_health_bundle(self.endpoint.endpoint_id, list(self.history))["text/html"]
        if self.error is not None:
            first = (
                str(self.error).splitlines()[0] if str(self.error) else type(self.error).__name__
            )
            body += f'<div style="color:#b91c1c">{esc(first)} (retrying)</div>'
        return body

    def done(self) -> bool:
        return self.closed

    def keeps_ticking(self) -> bool:
        return False

    def refresh(self, now: float) -> bool:
        if (self._dirty and self.html.comm is not None
                and self.send(self.html, now, value=self._live_html())):
            self._dirty = False
        return not self.send_actions(now) or self._dirty

    def final_bundle(self) -> dict[str, Any]:
        note = f"stopped: {self.stopped_because}" if self.stopped_because else "stopped"
        if self.history:
            return static_health_bundle(self.endpoint.endpoint_id, list(self.history), note)
        detail = f": {self.error}" if self.error else ""
        return {
            "text/plain": f"health of {self.endpoint.endpoint_id}: {note}{detail}",
            "text/html": f'<div style="{FONT}">health of <b>{esc(self.endpoint.endpoint_id)}'
            f"</b>: {esc(note + detail)}</div>",
        }

    def live_text(self) -> str:
        return f"runpod health panel for {self.endpoint.endpoint_id} (live)"

    def _ipython_display_(self) -> None:
        if presented_in_this_cell(self):
            return
        if not self.closed:
            self.show()
        elif self.history:
            from IPython.display import display

            mark_presented(self)
            display(
                static_health_bundle(
                    self.endpoint.endpoint_id,
                    list(self.history),
                    f"stopped: {self.stopped_because}",
                ),
                raw=True,
            )


def health_panel(endpoint: Any, *, interval: float = 5.0) -> HealthPanel:
    """Watch an endpoint's workers and jobs (``%runpod health --watch``).

    ``endpoint`` is an ``Endpoint`` or an id (key and base URL from the environment).
    Outside a live notebook, shows one reading.

    Example::

        panel = rp_jupyter.health_panel("my-endpoint", interval=2)
        panel.interval = 10     # poll less often
        panel.close()           # stop; the cell keeps the last reading
    """
    from IPython import get_ipython

    ep = as_endpoint(endpoint)
    panel = HealthPanel(ep, interval=interval)
    mode = display_mode(get_ipython())
    if mode != "live":
        show_health(ep, watch=False, interval=interval, mode=mode)
        panel.closed, panel.stopped_because = True, "not a live notebook: one reading shown"
        mark_presented(panel)
        return panel
    panel.start()
    panel.show()
    return panel


def show_health(endpoint: Any, *, watch: bool, interval: float, mode: str) -> Any:
    """``%runpod health``: one static reading, or (``watch``) a live panel; in a terminal,
    ``watch`` prints a line per reading until Ctrl-C.  Returns the panel or the reading."""
    ep = as_endpoint(endpoint)
    if watch and mode == "live":
        return health_panel(ep, interval=interval)
    if watch and mode == "terminal":
        return _watch_in_terminal(ep, interval)
    health = ep.health()
    note = "--watch needs a live notebook; one reading shown" if watch else None
    bundle = static_health_bundle(ep.endpoint_id, [(time.time(), health)], note)
    if mode == "terminal":
        print(bundle["text/plain"])
    else:
        from IPython.display import display

        display(bundle, raw=True)
    return health


def _watch_in_terminal(ep: Any, interval: float) -> Any:
    health = None
    stop = threading.Event()
    try:
        while True:
            health = ep.health()
            h = health
            print(
                f"{time.strftime('%H:%M:%S')} {ep.endpoint_id}: workers idle {h.idle} "
                f"running {h.running} initializing {h.initializing} unhealthy {h.unhealthy} · "
                f"jobs in queue {h.in_queue} in progress {h.in_progress} completed "
                f"{h.completed} failed {h.failed}",
                flush=True,
            )
            stop.wait(max(MIN_INTERVAL, interval))
    except KeyboardInterrupt:
        print("stopped watching", flush=True)
    return health
