"""``%runpod price``, ``%runpod cost`` and ``%runpod budget``, and the session settings the
magics pass on to the engine (which notebook sends jobs, cancel at exit, when a job counts
as forgotten).  Each ``cmd_*`` takes the magics object, the parsed arguments and the cell.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rp_jupyter.notebook.flag_values import duration_flag, endpoint_id_flag, money_flag
from rp_jupyter.notebook.usage import usage_error

if TYPE_CHECKING:
    from rp_jupyter.notebook.magics import RunpodMagics

__all__ = ["cmd_budget", "cmd_cost", "cmd_price", "notebook_name", "sync_settings"]

Args = argparse.Namespace
PRICE_EXAMPLE = "%runpod price my-endpoint 0.00044, or %runpod price my-endpoint A100"


def cmd_price(magics: RunpodMagics, args: Args, cell: str | None) -> Any:
    from rp_jupyter.jobs.cost import price_book, price_for, set_price
    from rp_jupyter.notebook.cost_view import PriceList

    if args.endpoint is None:
        if args.clear or args.active:
            raise usage_error("name the endpoint", "%runpod price my-endpoint --clear")
        return PriceList(price_book().all())
    endpoint_id = endpoint_id_flag(args.endpoint)
    if args.clear:
        if args.price is not None:
            raise usage_error("give a price or --clear, not both", PRICE_EXAMPLE)
        removed = price_book().clear(endpoint_id)
        print(f"Forgot the price of {endpoint_id}." if removed
              else f"No price was set for {endpoint_id}.")
        return None
    if args.price is None:
        if args.active:
            raise usage_error("--active goes with a GPU name", "%runpod price my-endpoint "
                              "A100 --active")
        price = price_for(endpoint_id, _base_url(magics, endpoint_id))
        print(f"{endpoint_id}: " + (price.describe() if price is not None else
                                    "no price: its jobs' cost is unknown (set one with "
                                    f"{PRICE_EXAMPLE.replace('my-endpoint', endpoint_id)})"))
        return None
    try:
        number = float(args.price.strip().lstrip("$"))
    except ValueError:
        number = None
    try:
        if number is not None:
            if args.active:
                raise usage_error("--active goes with a GPU name, not a number", PRICE_EXAMPLE)
            price = set_price(endpoint_id, number)
        else:
            price = set_price(endpoint_id, gpu=args.price,
                              tier="active" if args.active else "flex")
    except ValueError as exc:
        raise usage_error(f"%runpod price: {exc}", PRICE_EXAMPLE) from None
    print(f"Price of {endpoint_id}: {price.describe()}; its jobs are costed at it from now on.")
    return None


def _base_url(magics: RunpodMagics, endpoint_id: str) -> str:
    from rp_jupyter.notebook.settings import configured_base_url

    return magics.local.base_url_for(endpoint_id) or configured_base_url(magics).value


def cmd_cost(magics: RunpodMagics, args: Args, cell: str | None) -> Any:
    from rp_jupyter.jobs.cost_report import cost_rows
    from rp_jupyter.notebook.cost_view import CostReport

    last = duration_flag("--last", args.last) if args.last else None
    endpoint = endpoint_id_flag(args.endpoint) if args.endpoint else None
    period = f"last {args.last}" if args.last else "all time"
    if endpoint:
        period += f", endpoint {endpoint}"
    return CostReport(cost_rows(endpoint=endpoint, last=last, by=args.by), args.by, period)


def cmd_budget(magics: RunpodMagics, args: Args, cell: str | None) -> Any:
    from rp_jupyter.jobs.budget import budget

    example = "%runpod budget 2.50 (this session), or %runpod budget 10 --per-day"
    if args.off:
        if args.amount is not None:
            raise usage_error("give an amount or --off, not both", example)
        return budget(per_day=None) if args.per_day else budget(None, per_day=None)
    if args.amount is None:
        if args.per_day:
            raise usage_error("--per-day needs an amount", "%runpod budget 10 --per-day")
        return budget()
    amount = money_flag("%runpod budget", args.amount, example)
    return budget(per_day=amount) if args.per_day else budget(amount)


# -- settings the engine takes from the magics ------------------------------------------


def notebook_name(shell: Any) -> str | None:
    """The running notebook's path, where the frontend tells it (VS Code, Jupyter Server)."""
    namespace = getattr(shell, "user_ns", {}) or {}
    name = namespace.get("__vsc_ipynb_file__") or namespace.get("__session__")
    return str(name) if name else None


def sync_settings(magics: RunpodMagics) -> None:
    """Pass the magics' settings on to the engine's session settings."""
    from rp_jupyter.jobs import forgotten, session
    from rp_jupyter.notebook.durations import parse_duration

    name = notebook_name(getattr(magics, "shell", None))
    if name:
        session.settings.origin = name
    session.settings.cancel_on_exit = bool(magics.cancel_on_exit)
    try:
        forgotten.settings.after = parse_duration(magics.forgotten_after)
    except ValueError:  # refused by the trait's validation, which says why
        pass
