"""Stand-ins for a frontend: a comm that records every widget message and a display
publisher that records every display and display update.  Used by the tests and by
``bench/ui_stream.py``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import comm
from comm.base_comm import BaseComm, CommManager

from tests.waiting import wait_for

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class Recorder:
    """Every message a kernel would send to the frontend, with a timestamp."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []
        self.widgets: dict[str, Any] = {}  # comm id -> latest known state

    def add(self, **message: Any) -> None:
        message["t"] = time.monotonic()
        with self.lock:
            self.messages.append(message)
            if message["kind"] in ("comm_open", "comm_msg"):
                data = message.get("data") or {}
                state = self.widgets.setdefault(message["comm_id"], {})
                state.update(data.get("state") or {})

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.messages)

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return [m for m in self.snapshot() if m["kind"] in kinds]

    def updates(self, comm_ids: set[str] | None = None) -> list[dict[str, Any]]:
        """Widget state updates sent, optionally only for some comms."""
        return [m for m in self.of_kind("comm_msg") if comm_ids is None or m["comm_id"] in comm_ids]

    def displays(self) -> list[dict[str, Any]]:
        return self.of_kind("display", "update_display")

    def latest_display(self, display_id: str) -> dict[str, Any] | None:
        found = None
        for message in self.displays():
            if message.get("display_id") == display_id:
                found = message
        return found

    def max_per_window(self, messages: list[dict[str, Any]], window: float = 1.0) -> int:
        """The largest number of ``messages`` inside any ``window`` seconds."""
        times = sorted(m["t"] for m in messages)
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] > window:
                start += 1
            best = max(best, end - start + 1)
        return best


class RecordingComm(BaseComm):
    recorder: Recorder | None = None  # set on a per-recording subclass

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.kernel = "recording"  # ipywidgets sends only when the comm has a kernel
        super().__init__(*args, **kwargs)

    def publish_msg(
        self,
        msg_type: str,
        data: Any = None,
        metadata: Any = None,
        buffers: Any = None,
        **keys: Any,
    ) -> None:
        if self.recorder is not None:
            self.recorder.add(
                kind=msg_type, comm_id=self.comm_id, data=data, buffers=len(buffers or [])
            )


@contextlib.contextmanager
def recording_comms() -> Iterator[Recorder]:
    """Route every widget comm created inside the block to a :class:`Recorder`."""
    recorder = Recorder()
    manager = CommManager()
    saved = comm.create_comm, comm.get_comm_manager
    # a subclass per recording, so widgets left from an earlier one never record here
    comm_class = type("BoundRecordingComm", (RecordingComm,), {"recorder": recorder})
    comm.create_comm = lambda **kwargs: comm_class(**kwargs)
    comm.get_comm_manager = lambda: manager
    try:
        yield recorder
    finally:
        comm.create_comm, comm.get_comm_manager = saved


def install_display_recorder(shell: Any, recorder: Recorder) -> None:
    """Make ``shell`` record displays instead of printing them."""
    from IPython.core.displaypub import DisplayPublisher

    class RecordingPublisher(DisplayPublisher):
        def publish(
            self,
            data: Any,
            metadata: Any = None,
            source: Any = None,
            *,
            transient: Any = None,
            update: bool = False,
            **kwargs: Any,
        ) -> None:
            recorder.add(
                kind="update_display" if update else "display",
                data=data,
                display_id=(transient or {}).get("display_id"),
            )

    shell.display_pub = RecordingPublisher(shell=shell)


def wait_until(predicate: Any, timeout: float = 10.0, message: str = "condition") -> Any:
    """:func:`tests.waiting.wait_for`, under the name these tests use."""
    return wait_for(predicate, timeout, what=message)


def buttons(recorder: Recorder, description: str) -> list[str]:
    """Comm ids of open buttons whose label is ``description``, newest first."""
    closed = {m["comm_id"] for m in recorder.of_kind("comm_close")}
    with recorder.lock:
        found = [
            comm_id
            for comm_id, state in recorder.widgets.items()
            if state.get("_model_name") == "ButtonModel"
            and state.get("description") == description
            and comm_id not in closed
        ]
    return list(reversed(found))


def press(button: Any) -> None:
    """Deliver to ``button`` the message a frontend sends for a click."""
    button._handle_msg(
        {"content": {"data": {"method": "custom", "content": {"event": "click"}}}, "buffers": []}
    )


def click(recorder: Recorder, description: str) -> None:
    """Click the newest enabled button labelled ``description`` (as the frontend shows it)."""
    from ipywidgets.widgets.widget import _instances

    for comm_id in buttons(recorder, description):
        if not recorder.widgets[comm_id].get("disabled"):
            press(_instances[comm_id])
            return
    raise AssertionError(f"no enabled button {description!r}")


def panel_display_id(recorder: Recorder, job_id: str) -> str:
    """The display id of the panel first shown for ``job_id``."""
    for message in recorder.of_kind("display"):
        if job_id in message["data"].get("text/plain", ""):
            return message["display_id"]
    raise AssertionError(f"no display mentions job {job_id}")


def html_values(recorder: Recorder) -> list[str]:
    """Every HTML value sent to any widget, in order."""
    values = []
    for message in recorder.of_kind("comm_open", "comm_msg"):
        state = (message.get("data") or {}).get("state") or {}
        if isinstance(state.get("value"), str):
            values.append(state["value"])
    return values
