"""What a job costs: from its output's cost, a price set for its endpoint (a number or a GPU
from the dated table), nothing on a local endpoint, unknown otherwise; journaled with the
job, added up by ``rp_jupyter.cost``."""

from __future__ import annotations

import sqlite3

import pytest

import rp_jupyter
from rp_jupyter.jobs import pricing
from rp_jupyter.jobs.cost import cost_from_record, cost_of, dollars, price_book, set_price
from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.jobs.journal_schema import MIGRATIONS, SCHEMA_VERSION
from rp_jupyter.jobs.session import settings as session_settings
from tests.client_support import CHAOS_PLAIN, start_local
from tests.waiting import wait_for

HOSTED = "https://api.runpod.ai/v2"


@pytest.fixture(scope="module")
def servers():
    plain = start_local(CHAOS_PLAIN, endpoint_id="gpu-box", workers=1)
    priced = start_local("tests.jobs.handlers:priced", endpoint_id="public-model", workers=1)
    yield plain, priced
    plain.stop()
    priced.stop()


def endpoint(server):
    return rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url)


def test_the_gpu_table_is_dated_and_knows_the_names_people_write():
    assert pricing.PRICES_AS_OF == "2026-06-08"
    assert pricing.gpu_price("A100").flex == 0.00076
    assert pricing.gpu_price("rtx 4090") is pricing.gpu_price("4090 PRO")
    assert pricing.gpu_price("H100").per_second("active") == 0.00116
    assert pricing.gpu_price("b200").flex == 0.0024
    with pytest.raises(ValueError, match="did you mean A100"):
        pricing.gpu_price("A10")


def test_a_job_costs_its_execution_seconds_times_the_price_set(servers):
    plain, _ = servers
    set_price("gpu-box", 0.002)
    job = endpoint(plain).run({"sleep": 0.3})
    job.result(30)
    seconds = job.execution_ms / 1000
    assert seconds >= 0.3
    assert job.cost.dollars == pytest.approx(seconds * 0.002)
    assert job.cost.describe() == (f"cost {dollars(seconds * 0.002)} · {seconds:.1f} s × "
                                   "$0.002/s")
    record = JobJournal.open().find(job.id)
    assert (record.cost, record.cost_source, record.price) == (
        pytest.approx(seconds * 0.002), "price", 0.002)


def test_a_jobs_cost_is_journaled_before_the_job_shows_it_final(servers):
    plain, _ = servers
    set_price("gpu-box", 0.002)
    job = endpoint(plain).run({"sleep": 1.5})
    seen = []

    def on_change(changed, event):
        if event == "final":
            record = JobJournal.open().find(changed.id)
            seen.append((record.final, record.cost, changed.cost.dollars))

    unsubscribe = job.subscribe(on_change)
    assert not job.is_final  # it sleeps well past this point
    try:
        job.result(30)
        wait_for(lambda: seen, 10, "the final event")  # told after result() wakes
    finally:
        unsubscribe()
    assert job.cost.dollars == pytest.approx(job.execution_ms / 1000 * 0.002)
    assert seen == [(True, pytest.approx(job.cost.dollars), job.cost.dollars)]


def test_a_gpu_name_costs_the_job_at_the_tables_price_and_says_its_date(servers):
    plain, _ = servers
    price = set_price("gpu-box", gpu="H200")
    assert price.per_second == 0.00155
    job = endpoint(plain).run({})
    job.result(30)
    assert job.cost.dollars == pytest.approx(job.execution_ms / 1000 * 0.00155)
    assert "(H200 PRO flex, Runpod's prices of 2026-06-08)" in job.cost.describe()


def test_a_public_endpoints_output_cost_is_the_jobs_cost(servers):
    _, priced = servers
    set_price("public-model", 0.5)  # the endpoint's own figure wins over a price set
    job = endpoint(priced).run({"prompt": "a lighthouse"})
    job.result(30)
    assert (job.cost.dollars, job.cost.source) == (0.0024, "output.cost")
    assert job.cost.describe() == "cost $0.0024 (the endpoint's output.cost)"
    assert JobJournal.open().find(job.id).cost == 0.0024


def test_a_local_endpoint_costs_nothing_unless_a_price_is_set(servers):
    plain, _ = servers
    price_book().clear("gpu-box")
    job = endpoint(plain).run({})
    job.result(30)
    assert (job.cost.dollars, job.cost.source) == (0.0, "local")


def test_without_a_price_a_hosted_jobs_cost_is_unknown_and_never_guessed():
    cost = cost_of("abc123", HOSTED, output={"text": "hi"}, seconds=12.0)
    assert cost.dollars is None and cost.text == "unknown"
    assert cost.describe() == (
        "cost unknown: no price for endpoint abc123; set one with %runpod price abc123 "
        "0.00044 (dollars per second) or a GPU name such as %runpod price abc123 A100")
    set_price("abc123", gpu="A100")
    assert cost_of("abc123", HOSTED, seconds=12.0).dollars == pytest.approx(12 * 0.00076)


def test_a_running_job_shows_its_cost_so_far(servers):
    plain, _ = servers
    set_price("gpu-box", 0.01)
    job = endpoint(plain).run({"sleep": 30})
    try:
        from tests.waiting import wait_for

        wait_for(lambda: job.refresh().status == "IN_PROGRESS", 20, "the job to start")
        cost = wait_for(lambda: (c := job.cost).dollars and c.dollars > 0.005 and c, 20,
                        "half a second of cost")
        assert not cost.final and cost.text.startswith("~$")
        assert cost.describe().startswith("cost so far ~$")
    finally:
        job.cancel()
    assert job.cost.final and job.cost.dollars == pytest.approx(job.execution_ms / 1000 * 0.01)


def test_prices_are_kept_in_the_journal_for_the_next_session(rp_home):
    set_price("kept", 0.00044)
    with JobJournal._instances_lock:
        JobJournal._instances.clear()
    fresh = price_book(JobJournal(rp_home / "journal.sqlite3"))
    assert fresh.get("kept").per_second == 0.00044
    assert price_book().clear("kept") and fresh.journal.read(
        "SELECT count(*) FROM prices")[0][0] == 0


@pytest.mark.parametrize("bad", [-1, 2.0, float("nan")])
def test_a_price_out_of_range_is_refused(bad):
    with pytest.raises(ValueError, match="out of range"):
        set_price("x", bad)


def test_a_journal_of_schema_1_migrates_and_its_old_jobs_cost_unknown(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[1])
    conn.execute("INSERT INTO jobs (job_id, endpoint_id, base_url, mode, status, final, request,"
                 " input_hash, request_hash, created_at, updated_at, execution_ms) VALUES "
                 "('old-1', 'ep', ?, 'run', 'COMPLETED', 1, '{}', '', '', 1, 1, 1500)", (HOSTED,))
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    journal = JobJournal(path)
    try:
        assert journal.read("PRAGMA user_version")[0][0] == SCHEMA_VERSION
        record = journal.find("old-1")
        assert record.cost is None and record.origin is None and record.stream_gap is False
        cost = cost_from_record(record)
        assert cost.dollars is None and cost.seconds == 1.5
    finally:
        journal.close()


def test_a_journal_of_schema_2_keeps_its_stream_gaps_when_costs_are_added(tmp_path):
    path = tmp_path / "gap.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[1])
    conn.executescript(MIGRATIONS[2])
    conn.execute("INSERT INTO jobs (job_id, endpoint_id, base_url, mode, status, final, request,"
                 " input_hash, request_hash, created_at, updated_at, execution_ms, stream_gap) "
                 "VALUES ('gap-1', 'ep', ?, 'run', 'COMPLETED', 1, '{}', '', '', 1, 1, 800, 1)",
                 (HOSTED,))
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    journal = JobJournal(path)
    try:
        assert journal.read("PRAGMA user_version")[0][0] == SCHEMA_VERSION
        record = journal.find("gap-1")
        assert record.stream_gap is True
        assert record.cost is None and record.cost_source is None
        assert journal.read("SELECT count(*) FROM prices")[0][0] == 0
    finally:
        journal.close()


def test_rp_jupyter_cost_adds_up_the_journal_by_endpoint_and_notebook(servers, monkeypatch):
    plain, priced = servers
    set_price("gpu-box", 0.001)
    monkeypatch.setattr(session_settings, "origin", "work/one.ipynb")
    first = [endpoint(plain).run({}) for _ in range(2)]
    monkeypatch.setattr(session_settings, "origin", "work/two.ipynb")
    second = endpoint(priced).run({})
    for job in [*first, second]:
        job.result(30)
    seconds = sum(job.execution_ms for job in first) / 1000
    rows = rp_jupyter.cost(by="endpoint")
    assert list(rows.columns) == ["endpoint", "jobs", "run_seconds", "cost", "unknown_cost"]
    by_endpoint = {row["endpoint"]: row for row in rows.to_dict("records")}
    assert by_endpoint["gpu-box"]["jobs"] == 2
    assert by_endpoint["gpu-box"]["cost"] == pytest.approx(seconds * 0.001)
    assert by_endpoint["public-model"]["cost"] == pytest.approx(0.0024)
    by_notebook = rp_jupyter.cost(by="notebook").set_index("notebook")["jobs"].to_dict()
    assert by_notebook == {"work/one.ipynb": 2, "work/two.ipynb": 1}
    assert rp_jupyter.cost("public-model", last=3600)["jobs"].tolist() == [1]
    with pytest.raises(rp_jupyter.InvalidRequestError, match="by must be one of"):
        rp_jupyter.cost(by="week")
