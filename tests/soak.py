"""A fault soak: many jobs, plain and streaming, through the fault-injecting proxy in front
of the local endpoint, checked against what the server really did.

Used by ``tests/jobs/test_fault_soak.py`` (500 jobs, about a minute) and ``bench/soak.py``
(larger runs, figures as a table and JSON).  Every wait is bounded.  What is counted:

- lost results: a job the client holds that did not end with its right output;
- hangs: a job still unfinished when its bounded wait ran out;
- silent gaps: a streamed job missing chunks without saying so (``stream_complete``, and
  the journal's flag); gaps it admits, and gaps filled from an aggregated output, are
  counted apart;
- duplicate executions: an input the server ran more than once (``job_record``);
- unflagged ambiguous submits: a job the server ran whose ``/run`` raised an error not
  flagged ``maybe_sent`` (or not journaled MAYBE_ACCEPTED), and "not sent" errors for
  requests the server did run.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import rp_jupyter
from rp_jupyter.api.errors import WaitTimeoutError
from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.local import LocalServer
from rp_jupyter.local.fault_proxy import FaultProxy

KINDS = ("plain", "stream", "aggregate")
HANDLERS = {"plain": ("rp_jupyter.local.examples.chaos:plain", False),
            "stream": ("chaos", False),
            "aggregate": ("chaos", True)}
CHUNKS = 6
INTERVAL = 0.02
WAIT = 120.0  # seconds any one job may take to end, faults and all
SUBMIT_AT_ONCE = 64


@dataclass
class SoakReport:
    """The figures of one soak (see the module docstring)."""

    jobs: int
    fault_rate: float
    seconds: float = 0.0
    accepted: int = 0
    refused: int = 0  # errors that say the request was not taken (429/503 past retries)
    maybe_accepted: int = 0  # errors flagged maybe_sent
    maybe_accepted_ran: int = 0  # ... of which the server did run the job
    completed: int = 0
    lost_results: int = 0
    hangs: int = 0
    silent_gaps: int = 0
    admitted_gaps: int = 0
    healed_gaps: int = 0
    duplicate_executions: int = 0
    unflagged_ambiguous: int = 0
    journal_mismatches: int = 0
    requests: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost_results or self.hangs or self.silent_gaps
                    or self.duplicate_executions or self.unflagged_ambiguous
                    or self.journal_mismatches)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "clean": self.clean}


@dataclass
class _Submission:
    index: int
    kind: str
    input: dict[str, Any]
    job: Any = None
    error: BaseException | None = None
    outcome: Any = None
    failure: BaseException | None = None
    gap_warned: bool = False


def expected_output(sub: _Submission) -> Any:
    if sub.kind == "plain":
        return {"done": True, "slept": 0.0, "attempt": 1}
    return [{"chunk": i} for i in range(CHUNKS)] + [
        {"done": True, "slept": 0.0, "chunks": CHUNKS, "attempt": 1}]


def run_soak(jobs: int = 500, *, fault_rate: float = 0.1, seed: int = 12,
             workers: int = 3, latency: float = 0.0) -> SoakReport:
    """Run the soak in this process (its engine and ``RP_JUPYTER_HOME``); see the module
    docstring.  Returns the report; never raises for what it finds."""
    tag = uuid.uuid4().hex[:8]
    report = SoakReport(jobs=jobs, fault_rate=fault_rate)
    with LocalServer() as server:
        for kind, (handler, aggregate) in HANDLERS.items():
            server.add_endpoint(f"soak-{kind}", handler, workers=workers, rate_limits="off",
                                return_aggregate_stream=aggregate)
        for handle in server.endpoints.values():
            handle.wait_ready(60)
        with FaultProxy(server.root_url, rate=fault_rate, seed=seed, retry_after=0.05,
                        latency=latency) as proxy:
            started = time.monotonic()
            with warnings.catch_warnings():  # each job's warning is asked for once, below
                warnings.simplefilter("ignore", rp_jupyter.StreamGapWarning)
                submissions = asyncio.run(_drive(proxy.base_url, jobs, tag))
            report.seconds = time.monotonic() - started
            report.faults = dict(proxy.counts())
            report.requests = len(proxy.log)
        _check(report, submissions, server, tag)
    return report


async def _drive(base_url: str, jobs: int, tag: str) -> list[_Submission]:
    endpoints = {kind: rp_jupyter.Endpoint(f"soak-{kind}", base_url=base_url) for kind in KINDS}
    submissions = []
    for index in range(jobs):
        kind = KINDS[index % len(KINDS)]
        data: dict[str, Any] = {"soak": tag, "i": index}
        if kind != "plain":
            data.update(chunks=CHUNKS, interval=INTERVAL)
        submissions.append(_Submission(index, kind, data))
    gate = asyncio.Semaphore(SUBMIT_AT_ONCE)

    async def one(sub: _Submission) -> None:
        async with gate:
            try:
                sub.job = await endpoints[sub.kind].arun(sub.input)
            except rp_jupyter.RunpodError as exc:
                sub.error = exc
                return
        try:
            sub.outcome = await sub.job.aresult(timeout=WAIT)
        except Exception as exc:
            sub.failure = exc

    await asyncio.gather(*(one(sub) for sub in submissions))
    for sub in submissions:  # does result() say so when chunks may be missing?
        if sub.job is not None and sub.failure is None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                sub.job.result()
            sub.gap_warned = any(w.category is rp_jupyter.StreamGapWarning for w in caught)
    return submissions


def _check(report: SoakReport, submissions: list[_Submission], server: LocalServer,
           tag: str) -> None:
    journal = JobJournal.open()
    ran: Counter[int] = Counter()  # input index -> executions on the server
    for handle in server.endpoints.values():
        for job_id in {e["job_id"] for e in handle.request_log
                       if e["op"] == "run" and e["job_id"]}:
            record = handle.job_record(job_id)
            if record is not None and (record.get("input") or {}).get("soak") == tag:
                ran[record["input"]["i"]] += int(record.get("attempts") or 1)
    report.duplicate_executions = sum(n - 1 for n in ran.values() if n > 1)
    unsent = {r.input["i"]: r.status for r in journal.list(limit=None)
              if r.job_id is None and (r.input or {}).get("soak") == tag}
    for sub in submissions:
        if sub.job is None:
            _check_refusal(report, sub, ran, unsent.get(sub.index))
        else:
            _check_job(report, sub, journal)


def _check_refusal(report: SoakReport, sub: _Submission, ran: Counter[int],
                   status: str | None) -> None:
    maybe_sent = bool(getattr(sub.error, "maybe_sent", False))
    if maybe_sent:
        report.maybe_accepted += 1
        report.maybe_accepted_ran += int(ran[sub.index] > 0)
    else:
        report.refused += 1
        if ran[sub.index]:  # "not sent", yet the server ran it
            report.unflagged_ambiguous += 1
            report.problems.append(f"#{sub.index}: {sub.error!r} but the server ran it")
    if status != ("MAYBE_ACCEPTED" if maybe_sent else "SUBMIT_FAILED"):
        report.journal_mismatches += 1
        report.problems.append(f"#{sub.index}: journaled {status} after {sub.error!r}")


def _check_job(report: SoakReport, sub: _Submission, journal: JobJournal) -> None:
    report.accepted += 1
    job = sub.job
    if isinstance(sub.failure, WaitTimeoutError):
        report.hangs += 1
        report.problems.append(f"#{sub.index}: still {job.status} after {WAIT:g} s")
        return
    want = expected_output(sub)
    if sub.failure is not None:
        report.lost_results += 1
        report.problems.append(f"#{sub.index}: {sub.failure!r}")
        return
    if sub.kind == "plain" or job.stream_complete:
        if sub.outcome != want:
            target = "silent_gaps" if sub.kind != "plain" else "lost_results"
            setattr(report, target, getattr(report, target) + 1)
            report.problems.append(f"#{sub.index}: {sub.outcome!r} != {want!r}")
            return
    else:  # the job says chunks may be missing: what it has must still be right, in order
        report.admitted_gaps += 1
        if not (sub.gap_warned and _in_order_within(job.chunks, want)):
            report.lost_results += 1
            report.problems.append(f"#{sub.index}: gap not warned or chunks wrong")
    report.completed += 1
    record = journal.find(job.id)
    if record is None or record.status != "COMPLETED" or record.chunks() != job.chunks \
            or record.stream_gap is job.stream_complete:
        report.journal_mismatches += 1
        report.problems.append(f"#{sub.index}: the journal disagrees with the job")
        return
    if sub.kind == "aggregate" and any(d and d.startswith("stream gap")
                                       for _, _, d in record.events()):
        report.healed_gaps += 1


def _in_order_within(part: list[Any], whole: list[Any]) -> bool:
    found = iter(whole)
    return all(any(item == candidate for candidate in found) for item in part)
