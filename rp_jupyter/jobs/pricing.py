"""Runpod's serverless GPU prices per second, as a small dated table (standard library only).

A GPU name given to ``%runpod price ENDPOINT A100`` (or ``rp_jupyter.price``) is resolved
here; the date is shown with every price taken from this table, because prices change
and the table only knows what was published when it was written.

Source: Runpod's documentation, "Serverless > Pricing" (docs.runpod.io/serverless/pricing),
GPU pricing table as published from 2026-06-08 (the change adding "6000s PRO") until
2026-06-29 (when the page moved the figures to runpod.io/pricing); the page's source is
``snippets/serverless-gpu-pricing-table.mdx`` in the public ``runpod/docs`` repository.
Since 2026-05-13 that table gives one price for flex and active workers ("Runpod has
unified pricing for flex and active workers"; discounts for active workers only through
sales), so both columns below hold the same figure.  Before then active workers cost 20-30%
less.  Billing itself is per second of a worker's life (start, execution and idle time,
rounded up to the second); what rp_jupyter can see of a job is its execution time.

Example::

    >>> gpu_price("a100").flex
    0.00076
    >>> gpu_price("RTX 4090").names[0]
    '4090 PRO'
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

__all__ = ["GPU_PRICES", "PRICES_AS_OF", "PRICES_SOURCE", "GpuPrice", "gpu_price"]

PRICES_AS_OF = "2026-06-08"
PRICES_SOURCE = "the GPU pricing table of docs.runpod.io/serverless/pricing"
TIERS = ("flex", "active")


@dataclass(frozen=True)
class GpuPrice:
    """One row of the table: the GPU names it covers, memory, and dollars per second."""

    names: tuple[str, ...]
    memory_gb: int
    flex: float
    active: float

    def per_second(self, tier: str = "flex") -> float:
        if tier not in TIERS:
            raise ValueError(f"tier must be 'flex' or 'active', not {tier!r}")
        return self.flex if tier == "flex" else self.active

    @property
    def label(self) -> str:
        return ", ".join(self.names)


GPU_PRICES: tuple[GpuPrice, ...] = (
    GpuPrice(("A4000", "A4500", "RTX 4000"), 16, 0.00016, 0.00016),
    GpuPrice(("L4", "A5000", "3090"), 24, 0.00019, 0.00019),
    GpuPrice(("4090 PRO",), 24, 0.00031, 0.00031),
    GpuPrice(("A6000", "A40"), 48, 0.00034, 0.00034),
    GpuPrice(("L40", "L40S", "6000 Ada PRO"), 48, 0.00053, 0.00053),
    GpuPrice(("A100",), 80, 0.00076, 0.00076),
    GpuPrice(("H100 PRO",), 80, 0.00116, 0.00116),
    GpuPrice(("6000s PRO",), 96, 0.00111, 0.00111),
    GpuPrice(("H200 PRO",), 141, 0.00155, 0.00155),
    GpuPrice(("B200",), 180, 0.00240, 0.00240),
)

# Other ways people write the same GPUs (keys are normalised, see _key).
_ALIASES = {
    "4090": "4090 PRO", "RTX4090": "4090 PRO", "RTX3090": "3090", "H100": "H100 PRO",
    "H200": "H200 PRO", "RTX6000ADA": "6000 Ada PRO", "6000ADA": "6000 Ada PRO",
    "RTXA6000": "A6000", "RTXA5000": "A5000", "RTXA4000": "A4000", "RTXA4500": "A4500",
    "A10080GB": "A100", "RTXPRO6000": "6000s PRO", "6000S": "6000s PRO",
}


def _key(name: str) -> str:
    """``"RTX 4090"``, ``"rtx-4090"`` and ``"RTX4090"`` are one key."""
    return re.sub(r"[^A-Z0-9]", "", name.upper())


def _index() -> dict[str, GpuPrice]:
    found = {_key(name): row for row in GPU_PRICES for name in row.names}
    for alias, name in _ALIASES.items():
        found[_key(alias)] = found[_key(name)]
    return found


_BY_KEY = _index()


def gpu_price(name: str) -> GpuPrice:
    """The table's row for a GPU name (case, spaces and dashes do not matter).

    A name the table does not know raises ``ValueError`` naming the closest ones.
    """
    row = _BY_KEY.get(_key(str(name)))
    if row is None:
        known = [n for r in GPU_PRICES for n in r.names]
        close = difflib.get_close_matches(str(name).upper(), [k.upper() for k in known], n=2,
                                          cutoff=0.5)
        near = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(f"no GPU {name!r} in the price table of {PRICES_AS_OF}{near} "
                         f"(it knows {', '.join(known)})")
    return row
