"""What a job costs: its execution seconds times its endpoint's price per second.

Where the price comes from, in order:

1. the job's own ``output.cost`` (Runpod's public endpoints put the dollars there): that
   is the cost, whatever the time;
2. a price set for the endpoint (``%runpod price ENDPOINT 0.00044``, or a GPU name looked up
   in :mod:`rp_jupyter.jobs.pricing`), kept in the journal so it outlasts the kernel;
3. a local endpoint (on loopback) costs nothing unless a price is set for it (for teaching);
4. otherwise the cost is unknown, and says so: it is never guessed.

A job's final cost is journaled with its final state; while it runs, :func:`job_cost`
gives the cost so far.  Hosted Runpod bills a worker's whole life (start, execution and
idle time, rounded up to the second); a job shows only its execution time, so its cost is
what that time costs.

Example::

    set_price("my-endpoint", gpu="A100")      # $0.00076 per second
    job = Endpoint("my-endpoint").run({...})
    job.result()
    print(job.cost.describe())                # cost $0.0021 · 2.7 s × $0.00076/s (A100 ...)
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from rp_jupyter.jobs.local_endpoints import is_local
from rp_jupyter.jobs.pricing import PRICES_AS_OF, gpu_price

__all__ = [
    "Cost",
    "Price",
    "PriceBook",
    "cost_from_record",
    "cost_of",
    "dollars",
    "final_cost",
    "is_local",
    "job_cost",
    "price_book",
    "price_for",
    "record_cost",
    "set_price",
]

MAX_PRICE = 1.0  # dollars per second: 400 times the dearest GPU; more is a typo
PRICE_HINT = ("set one with %runpod price {endpoint} 0.00044 (dollars per second) or a GPU "
              "name such as %runpod price {endpoint} A100")


def dollars(amount: float | None) -> str:
    """``$2.50``, ``$0.031``, ``$0.0012``, ``$0``: two significant figures below a dollar."""
    if amount is None:
        return "unknown"
    if amount == 0:
        return "$0"
    if abs(amount) >= 0.995:
        return f"${amount:,.2f}"
    places = min(8, max(2, -math.floor(math.log10(abs(amount))) + 1))
    return f"${amount:.{places}f}"


def per_second_text(price: float) -> str:
    """A price as set, every digit kept: ``$0.00076/s``."""
    return f"${price:.8f}".rstrip("0").rstrip(".") + "/s" if price else "$0/s"


# -- prices ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    """Dollars per second of execution, and where that figure comes from: ``"price"`` (set
    as a number), ``"gpu"`` (looked up from a GPU name) or ``"local"`` (a free local one)."""

    per_second: float
    source: str
    gpu: str | None = None
    tier: str | None = None

    def describe(self) -> str:
        if self.source == "local":
            return "free (a local endpoint)"
        if self.source == "gpu":
            return (f"{per_second_text(self.per_second)} ({self.gpu} {self.tier}, Runpod's "
                    f"prices of {PRICES_AS_OF})")
        return f"{per_second_text(self.per_second)} (set with %runpod price)"


class PriceBook:
    """The prices set for endpoints, kept in one journal's ``prices`` table."""

    def __init__(self, journal: Any) -> None:
        self.journal = journal
        self._lock = threading.Lock()
        self._prices: dict[str, Price] | None = None

    def _load(self) -> dict[str, Price]:
        with self._lock:
            if self._prices is None:
                rows = self.journal.read("SELECT endpoint_id, per_second, gpu, tier FROM prices")
                self._prices = {row[0]: _price(row[1], row[2], row[3]) for row in rows}
            return self._prices

    def get(self, endpoint_id: str) -> Price | None:
        return self._load().get(endpoint_id)

    def all(self) -> dict[str, Price]:
        return dict(sorted(self._load().items()))

    def set(self, endpoint_id: str, price: Price) -> None:
        def op(conn: Any) -> None:
            conn.execute("INSERT OR REPLACE INTO prices VALUES (?, ?, ?, ?, ?)",
                         (endpoint_id, price.per_second, price.gpu, price.tier, time.time()))

        self.journal.write(op).result(10)
        self._load()[endpoint_id] = price

    def clear(self, endpoint_id: str) -> bool:
        def op(conn: Any) -> int:
            return conn.execute("DELETE FROM prices WHERE endpoint_id = ?",
                                (endpoint_id,)).rowcount

        removed = self.journal.write(op).result(10)
        self._load().pop(endpoint_id, None)
        return bool(removed)


def _price(per_second: float, gpu: str | None, tier: str | None) -> Price:
    return Price(per_second, "gpu" if gpu else "price", gpu, tier)


_BOOKS: weakref.WeakKeyDictionary[Any, PriceBook] = weakref.WeakKeyDictionary()
_BOOKS_LOCK = threading.Lock()


def price_book(journal: Any = None) -> PriceBook:
    """The price book of ``journal`` (default: the journal in use)."""
    if journal is None:
        from rp_jupyter.jobs.journal import JobJournal

        journal = JobJournal.open()
    with _BOOKS_LOCK:
        book = _BOOKS.get(journal)
        if book is None:
            book = _BOOKS[journal] = PriceBook(journal)
        return book


def set_price(
    endpoint_id: str, per_second: float | None = None, *, gpu: str | None = None,
    tier: str = "flex",
) -> Price:
    """Set the price of an endpoint's jobs: dollars per second, or a GPU from the table.

    Example::

        set_price("my-endpoint", 0.00044)
        set_price("my-endpoint", gpu="H100", tier="flex")
    """
    if (per_second is None) == (gpu is None):
        raise ValueError("give a price per second or a GPU name (one of them)")
    if gpu is not None:
        row = gpu_price(gpu)
        price = Price(row.per_second(tier), "gpu", row.label, tier)
    else:
        value = float(per_second)  # type: ignore[arg-type]
        if not 0 <= value <= MAX_PRICE:  # also refuses nan
            raise ValueError(f"a price of {per_second!r} dollars per second is out of range: "
                             f"it must be between 0 and {MAX_PRICE:g} (an A100 costs "
                             "0.00076)")
        price = Price(value, "price")
    price_book().set(endpoint_id, price)
    return price


def price_for(endpoint_id: str, base_url: str, journal: Any = None) -> Price | None:
    """The price in force for an endpoint (as kept in ``journal``, default: the journal in
    use), or ``None`` when it is unknown."""
    price = price_book(journal).get(endpoint_id)
    if price is not None:
        return price
    if is_local(base_url):
        return Price(0.0, "local")
    return None


# -- costs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cost:
    """What a job cost (``final``) or costs so far.  ``dollars`` is ``None`` when unknown;
    ``source`` says how it was found: ``output.cost``, ``price``, ``gpu``, ``local``,
    ``journal`` (answered from the journal: nothing new was run) or ``unknown``."""

    dollars: float | None
    source: str
    seconds: float | None = None
    per_second: float | None = None
    final: bool = True
    endpoint_id: str = ""
    price: Price | None = None
    why: str | None = None  # when unknown: "no price", "no time" or "not kept"

    @property
    def known(self) -> bool:
        return self.dollars is not None

    @property
    def text(self) -> str:
        """The amount alone: ``$0.0021``, ``~$0.0009`` while running, ``unknown``."""
        if self.dollars is None:
            return "unknown"
        return dollars(self.dollars) if self.final else "~" + dollars(self.dollars)

    def describe(self) -> str:
        """One line for a panel's footer."""
        if self.source == "journal":
            return "answered from the journal: no new cost"
        if self.dollars is None:
            if self.why == "no price":
                return (f"cost unknown: no price for endpoint {self.endpoint_id}; "
                        + PRICE_HINT.format(endpoint=self.endpoint_id))
            if self.why == "no time":
                return "cost unknown: the endpoint reported no execution time"
            return "cost unknown: none was journaled for this job"
        head = "cost" if self.final else "cost so far"
        if self.source == "output.cost":
            return f"{head} {self.text} (the endpoint's output.cost)"
        if self.seconds is None or self.per_second is None:
            return f"{head} {self.text}"
        how = f"{self.seconds:.1f} s × {per_second_text(self.per_second)}"
        if self.price is not None and self.price.source == "gpu":
            how += f" ({self.price.gpu} {self.price.tier}, Runpod's prices of {PRICES_AS_OF})"
        elif self.source == "local":
            how = "a local endpoint"
        return f"{head} {self.text} · {how}"

    def journal_fields(self) -> dict[str, Any]:
        return {"cost": self.dollars, "cost_source": self.source, "price": self.per_second}


def _output_cost(output: Any) -> float | None:
    if isinstance(output, dict):
        value = output.get("cost")
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and math.isfinite(value) and value >= 0:
            return float(value)
    return None


def cost_of(
    endpoint_id: str, base_url: str, *, output: Any = None, seconds: float | None,
    final: bool = True, journal: Any = None,
) -> Cost:
    """The cost of ``seconds`` of execution on an endpoint (or the output's own ``cost``)."""
    reported = _output_cost(output) if final else None
    if reported is not None:
        return Cost(reported, "output.cost", seconds, None, final, endpoint_id)
    price = price_for(endpoint_id, base_url, journal)
    if price is None or seconds is None:
        why = "no price" if price is None else "no time"
        return Cost(None, "unknown", seconds, None, final, endpoint_id, price, why)
    return Cost(seconds * price.per_second, price.source, seconds, price.per_second, final,
                endpoint_id, price)


def run_seconds(status: str, execution_ms: int | None, started_at: float | None,
                finished_at: float | None) -> float | None:
    """The seconds a job ran: the server's ``executionTime``, else as seen from here; a job
    cancelled or timed out in the queue ran for 0 s; ``None`` when nobody knows."""
    if execution_ms is not None:
        return execution_ms / 1000
    if started_at is not None:
        return max(0.0, (finished_at or time.time()) - started_at)
    if status in ("CANCELLED", "TIMED_OUT"):
        return 0.0
    return None


def final_cost(job: Any, doc: Any, journal: Any = None) -> Cost:
    """The cost of ``job`` once ``doc`` (its final status document) has arrived, at the
    price kept in ``journal`` (default: the journal in use)."""
    execution = doc.execution_ms if doc.execution_ms is not None else job.execution_ms
    seconds = run_seconds(str(doc.status), execution, job.started_at, time.time())
    return cost_of(job.endpoint_id, job.base_url, output=doc.output, seconds=seconds,
                   journal=journal)


def job_cost(job: Any) -> Cost:
    """What ``job`` cost (final) or costs so far (running: its time on a worker so far)."""
    if getattr(job, "cached", False):
        return Cost(0.0, "journal", endpoint_id=job.endpoint_id)
    if job.is_final:
        stamped = getattr(job, "final_cost", None)
        if stamped is not None:
            return stamped
        seconds = run_seconds(str(job.status), job.execution_ms, job.started_at,
                              job.finished_at)
        return cost_of(job.endpoint_id, job.base_url, output=job.output, seconds=seconds)
    if job.delay_ms is not None and str(job.status) == "IN_PROGRESS":
        # the server's delayTime places its start better than when it was seen here
        seconds = max(0.0, time.time() - job.submitted_at - job.delay_ms / 1000)
    else:
        seconds = job.run_seconds if job.run_seconds is not None else 0.0
    return cost_of(job.endpoint_id, job.base_url, seconds=seconds, final=False)


def cost_from_record(record: Any) -> Cost:
    """The cost journaled with a final record (``unknown`` for records kept before costs
    were, or whose cost nobody could know)."""
    seconds = record.execution_ms / 1000 if record.execution_ms is not None else None
    if record.cost is None or record.cost_source in (None, "unknown"):
        return Cost(None, "unknown", seconds, None, True, record.endpoint_id, None, "not kept")
    price = None
    if record.cost_source in ("price", "gpu") and record.price is not None:
        known = price_book(getattr(record, "journal", None)).get(record.endpoint_id)
        price = known if known is not None and known.per_second == record.price else None
    return Cost(record.cost, record.cost_source, seconds, record.price, True,
                record.endpoint_id, price)


def record_cost(record: Any) -> Cost:
    """A journal record's cost: as journaled once final, so far while it runs."""
    if record.final:
        return cost_from_record(record)
    seconds = (max(0.0, time.time() - record.started_at)
               if record.started_at is not None else 0.0)
    return cost_of(record.endpoint_id, record.base_url, seconds=seconds, final=False)
