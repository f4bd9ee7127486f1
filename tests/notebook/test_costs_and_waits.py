"""What it costs and why it waits, as a user sees it: the live panel (header note, footer),
its static rendering, ``%runpod price / cost / budget / jobs / local``, and sweeps."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

import rp_jupyter
from rp_jupyter.jobs.cost import set_price
from rp_jupyter.local import LocalEndpoint
from rp_jupyter.notebook.display import present_job
from tests.client_support import CHAOS_PLAIN
from tests.notebook.recording import WIDGET_VIEW, html_values, wait_until


@pytest.fixture
def throttled():
    with LocalEndpoint("echo", endpoint_id="ui-throttled", throttled=1) as ep:
        set_price("ui-throttled", 0.01)
        yield ep


@pytest.fixture
def slow():
    with LocalEndpoint(CHAOS_PLAIN, endpoint_id="ui-slow") as ep:
        ep.wait_ready(30)
        set_price("ui-slow", 0.01)
        yield ep
    rp_jupyter.budget(None, per_day=None)


def static_text(recorder, job, status):
    """The panel's static rendering once it shows ``status``."""
    def final():
        for message in reversed(recorder.of_kind("update_display")):
            data = message["data"]
            if WIDGET_VIEW not in data and job.id in data["text/plain"] \
                    and status in data["text/plain"].split("\n", 1)[0]:
                return data
        return None

    return wait_until(final, 30, f"the static {status} rendering")


def test_the_live_panel_says_why_a_job_waits_then_what_it_cost(frontend, throttled):
    rec = frontend.recorder
    job = rp_jupyter.Endpoint("ui-throttled", base_url=throttled.base_url).run({"a": 1})
    present_job(job, mode="live", block=False)
    wait_until(lambda: any("no GPU capacity (1 worker throttled)" in v
                           for v in html_values(rec)), 20, "the wait reason in the panel")
    throttled.simulate(throttled=0)  # a GPU frees up
    data = static_text(rec, job, "COMPLETED")
    footers = [line for line in data["text/plain"].splitlines() if line.startswith("cost $")]
    assert len(footers) == 1 and footers[0].endswith("× $0.01/s")
    assert "× $0.01/s" in data["text/html"]
    assert "no GPU capacity" not in data["text/plain"]  # it no longer waits


def test_a_job_the_budget_cancels_says_why_in_its_panel(frontend, slow):
    rec = frontend.recorder
    rp_jupyter.budget(0.005)
    job = rp_jupyter.Endpoint("ui-slow", base_url=slow.base_url).run({"sleep": 60})
    present_job(job, mode="live", block=False)
    data = static_text(rec, job, "CANCELLED")
    assert "cancelled to keep within the session budget of $0.0050" in data["text/plain"]
    assert "cancelled to keep within the session budget" in data["text/html"]


def test_price_sets_shows_and_forgets_an_endpoints_price(ip):
    run = ip.run("%runpod price my-ep A100")
    assert run.stdout.strip() == ("Price of my-ep: $0.00076/s (A100 flex, Runpod's prices of "
                                  "2026-06-08); its jobs are costed at it from now on.")
    assert "my-ep: $0.00076/s (A100 flex" in ip.run("%runpod price my-ep").stdout
    ip.run("%runpod price my-ep 0.00044")
    listing = repr(ip.run("%runpod price").value)
    assert "my-ep: $0.00044/s (set with %runpod price)" in listing
    assert "as of 2026-06-08" in listing and "B200" in listing and "$0.0024/s" in listing
    assert ip.run("%runpod price my-ep --clear").stdout.strip() == "Forgot the price of my-ep."
    assert "no price: its jobs' cost is unknown" in ip.run("%runpod price my-ep").stdout


@pytest.mark.parametrize(("line", "message"), [
    ("%runpod price my-ep A10", "did you mean A100"),
    ("%runpod price my-ep 5", "out of range"),
    ("%runpod price my-ep 0.001 --active", "--active goes with a GPU name"),
    ("%runpod price --clear", "name the endpoint"),
    ("%runpod budget nothing", "not a positive number of dollars"),
    ("%runpod budget -2", "not a positive number of dollars"),
    ("%runpod budget 2 --off", "not both"),
    ("%runpod cost --by week", "invalid choice"),
    ("%runpod cost --last forever", "is not a duration"),
    ("%runpod local echo --throttled -1", "out of range"),
    ("%runpod local echo --cold-start 0", "out of range"),
])
def test_bad_cost_flags_are_one_usage_error(ip, line, message):
    run = ip.run(line)
    assert isinstance(run.error, UsageError) and message in str(run.error)


def test_cost_shows_a_table_with_bars_and_its_rows(ip, local):
    set_price("echo", 0.01)
    set_price("tokens", 0.02)
    for endpoint, body in (("echo", '{"a": 1}'), ("echo", '{"a": 2}'),
                           ("tokens", '{"prompt": "one two three"}')):
        assert ip.run(f"%%runpod run {endpoint} --wait\n{body}").error is None
    report = ip.run("%runpod cost").value
    rows = {row["endpoint"]: row for row in report.rows}
    assert rows["echo"]["jobs"] == 2 and rows["tokens"]["jobs"] == 1
    text = repr(report)
    assert text.splitlines()[0] == "Cost by endpoint (all time), from the journal"
    assert "█" in text and text.splitlines()[-1].startswith("total")
    html = report._repr_html_()
    assert html.count('background:#2563eb') == sum(1 for r in report.rows if r["cost"] > 0)
    by_day = ip.run("%runpod cost --by day --last 1h").value
    assert len(by_day.rows) == 1 and by_day.rows[0]["jobs"] == 3
    assert ip.run("%runpod cost --endpoint tokens").value.rows[0]["jobs"] == 1


def test_budget_refuses_a_cell_and_a_sweep_past_it_with_the_estimate(ip, local):
    set_price("echo", 0.5)
    assert ip.run('%%runpod run echo --wait\n{"warm": 1}').error is None
    status = repr(ip.run("%runpod budget 100").value)
    assert "this session: $" in status and "of $100.00 spent" in status
    run = ip.run('%%runpod run echo --sweep n=1,2,3,4\n{"x": 0}')
    assert run.error is None  # within the budget: it runs
    assert "estimate: 4 jobs × ~" in run.stdout and "total cost $" in run.stdout
    spent = rp_jupyter.budget().session_spent
    ip.run(f"%runpod budget {spent * 1.01:.6f}")
    run = ip.run('%%runpod run echo --sweep n=1,2,3,4,5,6\n{"x": 0}')
    assert isinstance(run.error, UsageError)
    assert "this sweep (6 jobs × ~" in str(run.error) and "nothing was sent" in str(run.error)
    run = ip.run('%%runpod run echo --wait\n{"x": 0}')
    assert isinstance(run.error, UsageError) and "would pass the session budget" in str(
        run.error)
    ip.run("%runpod budget --off")
    assert ip.run('%%runpod run echo --wait\n{"x": 0}').error is None


def test_jobs_and_the_panel_warn_of_a_forgotten_job(ip, throttled, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: the table is not cut
    ip.run('%config RunpodMagics.forgotten_after = "1s"')
    job = ip.run(f'%%runpod run ui-throttled --no-wait --base-url {throttled.base_url}\n{{}}'
                 ).value
    try:
        table = wait_until(lambda: "forgotten? IN_QUEUE" in (out := ip.run(
            "%runpod jobs").stdout) and out, 10, "the warning in %runpod jobs")
        assert job.id[:8] in table and "WARNING" in table.splitlines()[0]
        from rp_jupyter.notebook.static import static_bundle

        assert "forgotten? it keeps a worker busy" in static_bundle(job)["text/plain"]
    finally:
        job.cancel()
    assert "forgotten?" not in ip.run("%runpod jobs").stdout
    # once every job listed is final and none has a warning, the column makes room
    header = wait_until(lambda: (h := ip.run("%runpod jobs").stdout.splitlines()[0])
                        and "WARNING" not in h and h, 10, "a table without a WARNING column")
    assert header.split()[-2:] == ["COST", "OUTPUT"]


def test_forgotten_after_must_be_a_duration(ip, caplog):
    from rp_jupyter.jobs import forgotten

    ip.run('%config RunpodMagics.forgotten_after = "2m"')
    ip.run('%config RunpodMagics.forgotten_after = "soon"')
    assert "forgotten_after must be a duration such as '10m'" in caplog.text
    assert ip.magics.forgotten_after == "2m" and forgotten.settings.after == 120.0
    assert "set_trait()" not in caplog.text  # %config goes through traitlets as it should


def test_local_simulates_states_and_changes_them_on_a_running_endpoint(ip):
    try:
        run = ip.run("%runpod local echo --id sim --throttled 1")
        assert "simulated: 1 throttled (no GPU capacity)" in run.stdout
        job = ip.run("%%runpod run sim --no-wait\n{}").value
        assert "no GPU capacity" in rp_jupyter.why_waiting(job)
        ip.run("%runpod local echo --id sim --throttled 0")
        assert job.result(30) == {"echo": {}}
        run = ip.run("%runpod local echo --id none --workers 0")
        assert "simulated: no workers allowed (max workers 0)" in run.stdout
    finally:
        ip.run("%runpod local --stop")
