"""The live-view core every panel builds on, and the parts features add to panels."""

from __future__ import annotations

import io
import threading

import pytest

from rp_jupyter.notebook.jobs_table import static_jobs_bundle
from rp_jupyter.notebook.live_view import LiveView, widget_bundle
from rp_jupyter.notebook.panel_parts import parts
from rp_jupyter.notebook.static import static_bundle
from rp_jupyter.notebook.text_status import TextStatus
from tests.notebook.recording import WIDGET_VIEW, wait_until


class Counter(LiveView):
    """A tiny panel: one HTML widget showing a number, static once it reaches ``end``."""

    def __init__(self, end: int) -> None:
        import ipywidgets as widgets

        super().__init__()
        self.value, self.end = 0, end
        self.html = widgets.HTML()

    def refresh(self, now: float) -> bool:
        return not self.send(self.html, now, value=str(self.value))

    def done(self) -> bool:
        return self.value >= self.end

    def final_bundle(self):
        return {"text/plain": f"counted to {self.value}"}

    def widgets_to_close(self):
        return [self.html]


def test_a_live_view_refreshes_then_leaves_only_its_static_bundle(frontend):
    rec = frontend.recorder
    view = Counter(end=3)
    view.show(widget_bundle(view.html, "counting"))
    display_id = rec.of_kind("display")[0]["display_id"]
    for step in (1, 2):
        view.value = step
        view.wake()
        wait_until(lambda s=step: view.html.value == str(s), 5, f"the widget to show {step}")
    view.value = 3
    view.wake()
    latest = wait_until(lambda: (m := rec.latest_display(display_id))
                        and m["kind"] == "update_display" and m, 5, "the static bundle")
    assert latest["data"] == {"text/plain": "counted to 3"}
    assert WIDGET_VIEW not in latest["data"]
    wait_until(lambda: view.html.comm is None, 5, "the widget to be closed")


def test_a_second_click_while_an_action_runs_is_ignored(frontend):
    view = Counter(end=10)
    view.show(widget_bundle(view.html, "counting"))
    release, runs = threading.Event(), []

    def work() -> str:
        runs.append(1)
        release.wait(5)
        return "done once"

    assert view.act("row", "count", work, pending="counting…")
    assert not view.act("row", "count", work, pending="counting…")
    assert view.notes["row"] == "counting…"
    release.set()
    wait_until(lambda: view.notes["row"] == "done once", 5, "the action's note")
    assert runs == [1] and not view.busy


def test_an_action_that_raises_leaves_a_note_and_no_exception(frontend):
    view = Counter(end=10)
    view.show(widget_bundle(view.html, "counting"))

    def work() -> None:
        raise RuntimeError("the server said no\nand more")

    view.act(None, "cancel", work, pending="cancelling…")
    wait_until(lambda: view.notes.get(None) == "cancel failed: the server said no", 5, "the note")


@pytest.fixture
def cost_parts():
    def note(job):
        return "waiting for a worker" if not job.is_final else None

    def footer(job):
        return f"cost of {job.id[:4]}: $0.00"

    def column(record, job):
        return "$0.00"

    def broken(job):
        raise ValueError("a part that breaks")

    parts.add_note(note)
    parts.add_footer(footer)
    parts.add_footer(broken)
    parts.add_column("cost", "4em", column)
    yield
    for part in (note, footer, broken, column):
        parts.remove(part)


def test_parts_show_in_the_static_rendering_terminal_and_jobs_table(endpoint, cost_parts):
    from rp_jupyter.jobs.journal import JobJournal

    job = endpoint("ui-echo").run({"n": 1})
    job.result(20)
    bundle = static_bundle(job)
    line = f"cost of {job.id[:4]}: $0.00"
    assert line in bundle["text/html"] and line in bundle["text/plain"]
    out = io.StringIO()
    status = TextStatus(job, out=out)
    status.start()
    status.finish()
    assert out.getvalue().rstrip().endswith(line)
    table = static_jobs_bundle(JobJournal.open().list(limit=5))
    header = table["text/plain"].splitlines()[0].split()
    assert header[-2:] == ["COST", "OUTPUT"]
    assert "$0.00" in table["text/html"]


def test_a_note_part_shows_beside_the_live_header(frontend, endpoint, cost_parts):
    from rp_jupyter.notebook.panel import JobPanel

    job = endpoint("ui-chaos").run({"sleep": 30})
    panel = JobPanel(job)
    panel.show()
    try:
        wait_until(lambda: panel.view is not None and "waiting for a worker" in
                   panel.view.html.value, 10, "the note part in the live header")
    finally:
        job.cancel()


class Stopper(LiveView):
    """A panel with the core's own button and note: Stop runs until released."""

    def __init__(self) -> None:
        import ipywidgets as widgets

        super().__init__()
        self.release = threading.Event()
        self.button = self.action_button("Stop", self.stop, icon="stop")
        self.box = widgets.VBox([self.button, self.note_widget()])

    def stop(self) -> bool:
        return self.act(None, "stop", lambda: "stopped" if self.release.wait(5) else None,
                        pending="stopping…")

    def refresh(self, now: float) -> bool:
        return not self.send_actions(now)

    def live_text(self) -> str:
        return "a stopper"


def test_the_cores_button_is_disabled_and_noted_while_its_action_runs(frontend):
    from tests.notebook.recording import press

    view = Stopper()
    view.show()
    (shown,) = frontend.recorder.of_kind("display")
    assert shown["data"]["text/plain"] == "a stopper" and WIDGET_VIEW in shown["data"]
    press(view.button)
    wait_until(lambda: view.button.disabled and "stopping…" in view._note_html.value, 5,
               "the button disabled and the pending note")
    view.release.set()
    wait_until(lambda: not view.button.disabled and "stopped" in view._note_html.value, 5,
               "the outcome as the note, the button usable again")
