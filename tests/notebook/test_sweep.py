from __future__ import annotations

import asyncio
import re
import sys
import time

import pandas
import pytest

import rp_jupyter
from rp_jupyter.local import RateLimit
from rp_jupyter.notebook.sweep_inputs import parameter_grid, with_params
from tests.notebook.recording import WIDGET_VIEW, click, wait_until


def test_the_grid_is_every_combination_with_the_first_parameter_slowest():
    grid = parameter_grid({"temperature": [0.2, 0.7, 1.0], "seed": (1, 2), "model": "m"})
    assert len(grid) == 6
    assert grid[0] == {"temperature": 0.2, "seed": 1, "model": "m"}
    assert grid[1] == {"temperature": 0.2, "seed": 2, "model": "m"}
    assert grid[-1] == {"temperature": 1.0, "seed": 2, "model": "m"}
    with pytest.raises(ValueError, match="no values"):
        parameter_grid({"seed": []})


def test_dotted_parameters_set_nested_keys_without_touching_the_template():
    template = {"prompt": "hi", "options": {"top_p": 1}}
    made = with_params(template, {"options.temperature": 0.5, "a.b.c": 1})
    assert made == {
        "prompt": "hi",
        "options": {"top_p": 1, "temperature": 0.5},
        "a": {"b": {"c": 1}},
    }
    assert template == {"prompt": "hi", "options": {"top_p": 1}}
    with pytest.raises(ValueError, match="'prompt' is a str"):
        with_params(template, {"prompt.x": 1})


def test_a_sweep_shows_a_live_grid_then_returns_one_row_per_combination(frontend, endpoint):
    frontend.shell.user_ns.update(ep=endpoint("ui-tokens"), rp_jupyter=rp_jupyter)
    frontend.run_cell(
        "s = rp_jupyter.sweep(ep, {'prompt': 'a b c d e f g h', 'rate': 40},\n"
        "                     temperature=[0.0, 1.0, 2.0], seed=[1, 2])\n"
        "s"
    )
    sweep = frontend.shell.user_ns["s"]
    (grid,) = frontend.recorder.of_kind("display")  # shown once although it is the value
    assert WIDGET_VIEW in grid["data"]
    rows = sweep.result(30)
    assert isinstance(rows, pandas.DataFrame)
    assert list(rows.columns) == [
        "temperature",
        "seed",
        "status",
        "output",
        "error",
        "job_id",
        "elapsed",
    ]
    assert list(zip(rows.temperature, rows.seed, strict=True)) == [
        (t, s) for t in (0.0, 1.0, 2.0) for s in (1, 2)
    ]
    assert set(rows.status) == {"COMPLETED"}
    assert rows.output[0] == "a b c d e f g h "  # temperature 0 keeps the text
    assert rows.output.nunique() > 2  # the others differ
    assert rows.job_id.is_unique and (rows.elapsed > 0).all()
    assert [job.input["temperature"] for job in sweep.jobs] == list(rows.temperature)
    labels = [
        v
        for v in frontend.recorder.widgets.values()
        if "temperature=2.0 · seed=2" in str(v.get("value", ""))
    ]
    assert labels, "no mini-panel labelled with its parameters"
    final = wait_until(
        lambda: (
            (m := frontend.recorder.latest_display(grid["display_id"]))
            and m["kind"] == "update_display"
            and m
        ),
        5,
        "the static table",
    )
    assert WIDGET_VIEW not in final["data"]
    assert final["data"]["text/html"].count("<tr>") == 7
    assert "6 COMPLETED" in final["data"]["text/plain"]


def test_cancel_all_cancels_every_running_job(frontend, endpoint, local_server):
    server_side = local_server.endpoint("ui-chaos")
    sweep = rp_jupyter.sweep(endpoint("ui-chaos"), {"sleep": 30}, n=list(range(5)))
    wait_until(lambda: len(sweep.jobs) == 5, 10, "the jobs to be submitted")
    click(frontend.recorder, "Cancel all")
    rows = sweep.result(20)
    assert set(rows.status) == {"CANCELLED"}
    assert set(rows.error) == {"cancelled"}
    for job in sweep.jobs:
        assert server_side.job_record(job.id)["status"] == "CANCELLED"


def test_cancelling_before_submission_ends_leaves_the_rest_unsubmitted(frontend, endpoint):
    frontend.set_mode("terminal")
    ep = endpoint("ui-echo")
    sweep = rp_jupyter.notebook.sweep.Sweep(ep, {"x": 1}, parameter_grid({"i": range(3)}))
    sweep.cancel()  # before start: nothing goes out
    sweep.start()
    rows = sweep.result(10)
    assert rows.status.tolist() == ["NOT_SUBMITTED"] * 3
    assert rows.error[0] == "the sweep was cancelled first" and rows.job_id.isna().all()


def test_a_500_job_sweep_meets_no_429_and_stays_within_the_message_budget(
    frontend, endpoint, local_server
):
    server_side = local_server.endpoint("ui-echo")
    server_side.reset_stats()
    sweep = rp_jupyter.sweep(endpoint("ui-echo"), {"x": 1}, i=range(500))
    rows = sweep.result(120)
    assert len(rows) == 500 and set(rows.status) == {"COMPLETED"}
    assert rows.output.tolist()[499] == {"echo": {"x": 1, "i": 499}}
    codes = {entry["status_code"] for entry in server_side.request_log}
    assert 429 not in codes
    assert server_side.request_count("run") == 500
    rec = frontend.recorder
    display_id = rec.of_kind("display")[0]["display_id"]
    wait_until(
        lambda: rec.latest_display(display_id)["kind"] == "update_display", 5, "the static table"
    )
    assert rec.max_per_window(rec.updates(), 1.0) <= 25


def test_a_sweep_faster_than_the_run_limit_is_paced_instead_of_meeting_429(frontend, local_server):
    if "ui-paced" not in local_server.endpoints:
        local_server.add_endpoint(
            "ui-paced", "echo", workers=2, rate_limits={"run": RateLimit(40, 5.0, None)}
        )
        local_server.endpoint("ui-paced").wait_ready(timeout=60)
    server_side = local_server.endpoint("ui-paced")
    frontend.set_mode("headless")
    ep = rp_jupyter.Endpoint(
        "ui-paced", base_url=local_server.base_url, rate_limits={"run": (40, 5.0, None)}
    )
    start = time.monotonic()
    rows = rp_jupyter.sweep(ep, {"x": 1}, i=range(60)).result(60)
    assert time.monotonic() - start >= 5.0  # 60 runs, at most 40 per 5 s: paced
    assert set(rows.status) == {"COMPLETED"}
    assert [e for e in server_side.request_log if e["status_code"] == 429] == []


def test_await_sweep_gives_the_rows(frontend, endpoint):
    frontend.set_mode("live")
    sweep = rp_jupyter.sweep(endpoint("ui-echo"), {"x": 2}, i=[1, 2])
    assert [job.input["i"] for job in sweep.wait_submitted(10)] == [1, 2]

    async def main():
        return await sweep

    rows = asyncio.run(main())
    assert rows.output.tolist() == [{"echo": {"x": 2, "i": 1}}, {"echo": {"x": 2, "i": 2}}]


def test_outside_a_live_notebook_a_sweep_blocks_and_prints_a_line_per_job(
    frontend, endpoint, capsys
):
    frontend.set_mode("terminal")
    sweep = rp_jupyter.sweep(endpoint("ui-echo"), {"x": 3}, i=[1, 2, 3])
    assert sweep.done
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "runpod: sweep of 3 jobs on ui-echo (i)"
    assert sorted(line.split(":")[0].strip()[:5] for line in out[1:4]) == [
        "[1/3]",
        "[2/3]",
        "[3/3]",
    ]
    assert out[-1] == "runpod: sweep done: 3 COMPLETED"


def test_without_pandas_the_rows_are_dicts(frontend, endpoint, monkeypatch):
    frontend.set_mode("terminal")
    monkeypatch.setitem(sys.modules, "pandas", None)
    rows = rp_jupyter.sweep(endpoint("ui-echo"), {}, i=[1]).result(20)
    assert rows == [
        {
            "i": 1,
            "status": "COMPLETED",
            "output": {"echo": {"i": 1}},
            "error": None,
            "job_id": rows[0]["job_id"],
            "elapsed": rows[0]["elapsed"],
        }
    ]


def _badges(html: str) -> list[str]:
    import re

    return re.findall(r'letter-spacing:\.02em">([A-Z_]+)</span>', html)


def test_the_header_counts_agree_with_the_cards_at_every_update(frontend, endpoint):
    rec = frontend.recorder
    ep = endpoint("ui-tokens")
    sweep = rp_jupyter.sweep(ep, {"prompt": "a b c d e f g h i j", "rate": 25},
                             seed=[1, 2, 3, 4, 5, 6], wait=False)
    grid = sweep._views[0]
    from rp_jupyter.notebook.ticker import MessageBudget

    grid.budget = MessageBudget(rate=20, burst=2)  # tight: the header must still follow
    header_id = grid.header.model_id
    card_ids = [cell.model_id for cell in grid.cells]
    button_ids = {button.model_id for button in grid.card_buttons}
    sweep.result(60)
    wait_until(lambda: grid.state == "final", 10, "the static table")
    shown: dict[str, list[str]] = {}
    checked, owed = 0, False  # owed: a card changed status, the header has not followed yet
    for message in rec.of_kind("comm_open", "comm_msg"):
        value = ((message.get("data") or {}).get("state") or {}).get("value")
        # the header follows a card's new status before anything else is sent
        assert not (owed and message["comm_id"] in button_ids), "the header lagged"
        if message["comm_id"] in card_ids and isinstance(value, str):
            changed = shown.get(message["comm_id"], [None])[:1] != _badges(value)[:1]
            owed = owed or (changed and message["kind"] == "comm_msg")
            shown[message["comm_id"]] = _badges(value)
        if message["comm_id"] == header_id and message["kind"] == "comm_msg":
            owed = False
        if message["comm_id"] == header_id and isinstance(value, str) and len(shown) == 6:
            counts = dict(zip(_badges(value), map(int, re.findall(r"</span> (\d+)", value)),
                              strict=True))
            cards: dict[str, int] = {}
            for badges in shown.values():
                cards[badges[0]] = cards.get(badges[0], 0) + 1
            assert counts == cards, (counts, cards)
            checked += 1
    assert checked >= 3  # the header changed several times while the sweep ran


def test_each_card_has_a_cancel_for_its_own_combination(frontend, endpoint, local_server):
    chaos = endpoint("ui-chaos")
    sweep = rp_jupyter.sweep(chaos, {"chunks": 3, "interval": 0.2}, sleep=[30, 0.5],
                             wait=False)
    grid = sweep._views[0]
    jobs = sweep.wait_submitted(20)
    server_side = local_server.endpoint("ui-chaos")
    wait_until(lambda: server_side.job_record(jobs[0].id)["status"] == "IN_PROGRESS", 20,
               "the long combination to start")
    from tests.notebook.recording import press

    press(grid.card_buttons[0])
    assert jobs[0].wait(15) and str(jobs[0].status) == "CANCELLED"
    assert jobs[1].wait(20) and str(jobs[1].status) == "COMPLETED"  # the other one ran on
    assert server_side.request_count("cancel", jobs[1].id) == 0
    rows = sweep.result(10)
    assert list(rows.status) == ["CANCELLED", "COMPLETED"]


def test_sweep_values_holding_commas_are_quoted_or_a_json_list():
    from rp_jupyter.notebook.run_cell import parse_sweeps

    assert parse_sweeps(['prompt="a, b","c",d']) == {"prompt": ["a, b", "c", "d"]}
    assert parse_sweeps(['prompt=["a, b", "c"]']) == {"prompt": ["a, b", "c"]}
    assert parse_sweeps(["t=[0, 0.5]", "seed=1,2"]) == {"t": [0, 0.5], "seed": [1, 2]}
    assert parse_sweeps(['p="say \\"hi, you\\"",x']) == {"p": ['say "hi, you"', "x"]}
    with pytest.raises(Exception, match="never closed"):
        parse_sweeps(['prompt="a, b'])
    with pytest.raises(Exception, match="not one"):
        parse_sweeps(['prompt=["a", ]'])


def test_a_sweep_cell_sends_a_prompt_that_holds_commas(ip, local):
    run = ip.run("%%runpod run echo --wait --sweep 'prompt=[\"red, green\", \"blue\"]'\n{}")
    assert run.error is None, run.stderr
    rows = run.value.result(30)
    assert list(rows.prompt) == ["red, green", "blue"]
    assert [job.input for job in run.value.jobs] == [{"prompt": "red, green"},
                                                    {"prompt": "blue"}]


@pytest.fixture
def driven_grid(frontend):
    """``driven_grid(count)``: a sweep grid over ``count`` jobs driven by the test, out of
    the ticker (each ``tick`` is the test's); its widgets are closed afterwards."""
    from rp_jupyter.jobs.endpoint import Endpoint
    from rp_jupyter.notebook.live_view import close_widgets
    from rp_jupyter.notebook.sweep import Sweep
    from rp_jupyter.notebook.sweep_view import SweepGrid
    from rp_jupyter.notebook.ticker import ticker
    from tests.notebook.fake_jobs import driven_job

    grids = []

    def make(count: int):
        sweep = Sweep(Endpoint("driven", base_url="http://127.0.0.1:9/v2"), {"x": 1},
                      parameter_grid({"i": range(count)}))
        for item in sweep.items:
            item.job = driven_job(f"driven-{item.index:04d}-aaaa-bbbb")
        grid = SweepGrid(sweep)
        grids.append(grid)
        grid.show()
        ticker().discard(grid)
        clock = [time.monotonic()]

        def tick(seconds: float = 0.3) -> None:
            clock[0] += seconds
            grid.tick(clock[0])

        tick()
        return sweep, grid, tick

    yield make
    for grid in grids:
        for widget in close_widgets(grid.box):
            widget.close()


def test_a_big_sweep_resends_only_the_line_of_dots_holding_a_change(frontend, driven_grid):
    from rp_jupyter.api.models import JobStatus

    sweep, grid, tick = driven_grid(1000)
    assert len(grid.cells) == 20  # lines of 50 dots, not one grid of 1,000
    before = len(frontend.recorder.updates())
    sweep.items[737].job._apply_status(JobStatus.IN_PROGRESS)
    tick()
    sent = frontend.recorder.updates()[before:]
    lines = {cell.model_id: n for n, cell in enumerate(grid.cells)}
    changed = [lines[m["comm_id"]] for m in sent if m["comm_id"] in lines]
    assert changed == [737 // 50]
    (message,) = [m for m in sent if m["comm_id"] == grid.cells[14].model_id]
    assert message["data"]["state"]["value"].count("<i ") == 50
    assert "i=737: IN_PROGRESS" in message["data"]["state"]["value"]
    header = [m for m in sent if m["comm_id"] == grid.header.model_id]
    assert header and "IN_PROGRESS" in header[-1]["data"]["state"]["value"]
    before = len(frontend.recorder.updates())
    tick()
    tick()
    assert not [m for m in frontend.recorder.updates()[before:] if m["comm_id"] in lines]


def test_a_small_sweep_resends_only_the_card_that_changed(frontend, driven_grid):
    from rp_jupyter.api.models import JobStatus

    sweep, grid, tick = driven_grid(12)
    before = len(frontend.recorder.updates())
    sweep.items[5].job._apply_status(JobStatus.IN_PROGRESS)
    tick()
    sent = frontend.recorder.updates()[before:]
    cards = {cell.model_id: n for n, cell in enumerate(grid.cells)}
    assert [cards[m["comm_id"]] for m in sent if m["comm_id"] in cards] == [5]
