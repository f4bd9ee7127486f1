from __future__ import annotations

import ipywidgets as widgets
import pytest

import rp_jupyter
from rp_jupyter.api.models import JobStatus
from tests.notebook.recording import WIDGET_VIEW, wait_until

WORDS = " ".join(f"w{i}" for i in range(200))


def test_controls_follow_the_interact_conventions(frontend, endpoint):
    board = rp_jupyter.playground(
        endpoint("ui-echo"),
        {"temperature": 0.3, "options": {"seed": 2}},
        temperature=(0.0, 1.0, 0.1),
        max_tokens=(1, 50, 1),
        **{"options.seed": [1, 2, 3]},
        style="plain",
        stream=True,
    )
    try:
        controls = board.controls
        assert isinstance(controls["temperature"], widgets.FloatSlider)
        assert controls["temperature"].value == pytest.approx(0.3)  # from the template
        assert isinstance(controls["max_tokens"], widgets.IntSlider)
        assert isinstance(controls["options.seed"], widgets.Dropdown)
        assert controls["options.seed"].value == 2
        assert isinstance(controls["style"], widgets.Text)
        assert isinstance(controls["stream"], widgets.Checkbox)
        assert board.input == {
            "temperature": 0.3,
            "options": {"seed": 2},
            "max_tokens": 25,
            "style": "plain",
            "stream": True,
        }
        assert board.job.result(20) == {"echo": board.input}
        (shown,) = frontend.recorder.of_kind("display")
        assert WIDGET_VIEW in shown["data"]
    finally:
        board.close()


def test_a_change_is_debounced_cancels_the_job_in_flight_and_submits_one_new_job(
    frontend, endpoint, local_server
):
    server_side = local_server.endpoint("ui-tokens")
    board = rp_jupyter.playground(
        endpoint("ui-tokens"), {"prompt": WORDS, "rate": 20}, debounce=0.3, max_tokens=(1, 200, 1)
    )
    try:
        first = board.job
        wait_until(
            lambda: server_side.job_record(first.id)["status"] == "IN_PROGRESS",
            20,
            "the first job to run",
        )
        runs = server_side.request_count("run")
        for value in (120, 40, 3):  # a quick drag: one job for the last value only
            board.controls["max_tokens"].value = value
        wait_until(
            lambda: len(board.jobs) == 2 and board.jobs[1].is_final,
            20,
            "the job for the last value",
        )
        assert board.jobs[1].input["max_tokens"] == 3
        assert board.jobs[1].result() == ["w0 ", "w1 ", "w2 "]
        assert first.wait(10) and first.status == JobStatus.CANCELLED
        assert server_side.job_record(first.id)["status"] == "CANCELLED"
        assert server_side.request_count("run") == runs + 1
        wait_until(lambda: "w0 w1 w2" in board.view.html.value, 10, "the new output")
    finally:
        board.close()


def test_a_parameter_set_seen_before_is_answered_from_the_journal(frontend, endpoint, local_server):
    server_side = local_server.endpoint("ui-tokens")
    board = rp_jupyter.playground(
        endpoint("ui-tokens"), {"prompt": WORDS, "rate": 0}, debounce=0.05, max_tokens=(1, 200, 1)
    )
    try:
        board.controls["max_tokens"].value = 2
        wait_until(lambda: len(board.jobs) == 2 and board.jobs[1].is_final, 20, "job for 2")
        board.controls["max_tokens"].value = 3
        wait_until(lambda: len(board.jobs) == 3 and board.jobs[2].is_final, 20, "job for 3")
        runs = server_side.request_count("run")
        board.controls["max_tokens"].value = 2  # seen before
        wait_until(lambda: len(board.jobs) == 4, 20, "the answer for 2 again")
        again = board.jobs[3]
        assert again.cached and again.is_final
        assert again.id == board.jobs[1].id
        assert server_side.request_count("run") == runs  # nothing sent
        wait_until(
            lambda: "answered from the journal" in board.view.html.value,
            10,
            "the panel to say where the answer came from",
        )
        assert "w0 w1" in board.view.html.value
    finally:
        board.close()


def test_outside_a_live_notebook_the_template_runs_once(frontend, endpoint, capsys):
    frontend.set_mode("terminal")
    board = rp_jupyter.playground(endpoint("ui-echo"), {"q": 1}, q2=(1, 5, 1))
    assert board.job.is_final and len(board.jobs) == 1
    out = capsys.readouterr().out
    assert '"q": 1' in out and "runpod: COMPLETED" in out


def test_closing_leaves_the_values_and_the_last_result_and_no_widget(frontend, endpoint):
    board = rp_jupyter.playground(endpoint("ui-echo"), {"prompt": "hi"},
                                  temperature=(0.0, 1.0, 0.1))
    board.job.result(20)
    (shown,) = frontend.recorder.of_kind("display")
    assert WIDGET_VIEW in shown["data"]
    board.close()
    final = wait_until(lambda: (m := frontend.recorder.latest_display(shown["display_id"]))
                       and m["kind"] == "update_display" and m, 5, "the static view")
    assert WIDGET_VIEW not in final["data"]
    assert "temperature=0.5" in final["data"]["text/plain"]
    assert board.job.id in final["data"]["text/plain"] and "hi" in final["data"]["text/html"]
    wait_until(lambda: all(c.comm is None for c in board.controls.values()), 5,
               "the controls to be closed")
