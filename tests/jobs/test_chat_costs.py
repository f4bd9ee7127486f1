"""A chat reply is a job for cost and budget too: its cost is journaled with its end and
shown under it, ``rp_jupyter.cost`` counts it, and the budget refuses a turn past it before
anything is sent, with the same message as for a job."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

import rp_jupyter
from rp_jupyter.jobs.cost import set_price
from rp_jupyter.jobs.cost_report import cost_rows
from rp_jupyter.jobs.session import session_of
from rp_jupyter.notebook.chat_markdown import reply_bundle

ASK = [{"role": "user", "content": "What do rivers carry?"}]
PRICE = 0.01  # dollars per second, so that a short reply costs a visible amount


@pytest.fixture
def priced(llm_server) -> Iterator[rp_jupyter.Endpoint]:
    llm_server.reset_stats()
    set_price("llm", PRICE)
    yield rp_jupyter.Endpoint("llm", base_url=llm_server.base_url)
    rp_jupyter.budget(None, per_day=None)


def test_a_chat_reply_costs_its_time_at_the_endpoints_price_and_shows_it(priced):
    reply = priced.chat(ASK, max_tokens=12, token_delay=0.02)
    reply.result(timeout=30)
    cost = reply.cost
    assert cost.known and cost.source == "price" and cost.per_second == PRICE
    assert cost.dollars == pytest.approx(reply.execution_ms / 1000 * PRICE)
    assert cost.dollars > 0
    shown = reply_bundle(reply)
    assert cost.describe() in shown["text/markdown"] and cost.describe() in shown["text/plain"]
    again = priced.job(reply.id)  # as the journal has it
    assert again.cost.dollars == pytest.approx(cost.dollars)


def test_the_cost_report_counts_chat_replies_once_each(priced):
    for seed in (1, 2):
        priced.chat(ASK, max_tokens=6, seed=seed, token_delay=0.01).result(timeout=30)
    priced.run({"prompt": "hello", "max_tokens": 4}).result(timeout=30)
    (row,) = cost_rows(endpoint="llm")  # what %runpod cost and rp_jupyter.cost add up
    assert row["jobs"] == 3 and row["unknown_cost"] == 0 and row["cost"] > 0


def test_a_chat_turn_past_the_budget_is_refused_before_anything_is_sent(priced, llm_server):
    first = priced.chat(ASK, max_tokens=10, token_delay=0.02)
    first.result(timeout=30)
    assert session_of(priced.runtime.engine).spending().total == pytest.approx(
        first.cost.dollars)
    rp_jupyter.budget(first.cost.dollars / 2)
    sent = llm_server.request_count("openai")
    with pytest.raises(rp_jupyter.BudgetExceededError) as caught:
        priced.chat(ASK, max_tokens=10)
    assert "the session budget of" in str(caught.value) and "is used up" in str(caught.value)
    assert re.search(r"this job \(about \$[0-9.]+\) was not sent", str(caught.value))
    assert "%runpod budget --off" in caught.value.hint
    assert llm_server.request_count("openai") == sent
    assert [r.mode for r in rp_jupyter.jobs(endpoint="llm")].count("chat") == 1


def test_a_reply_waiting_in_the_queue_says_why_like_a_job():
    from rp_jupyter.local import LocalEndpoint
    from rp_jupyter.notebook.chat_markdown import part_lines

    with LocalEndpoint("llm", endpoint_id="idle", workers=0) as idle:
        reply = rp_jupyter.Endpoint("idle", base_url=idle.base_url).chat(ASK, max_tokens=4)
        try:
            assert str(reply.status) == "IN_QUEUE"
            said = rp_jupyter.why_waiting(reply)
            assert said is not None and "no workers are running" in said
            assert said in part_lines(reply)  # the panel's note, from the shared /health watch
        finally:
            reply.cancel()
        assert reply.status == "CANCELLED"
