"""``Endpoint.chat`` and ``Endpoint.completion`` against the local endpoint's OpenAI route,
beside the official ``openai`` client on the same endpoint and ``llm`` handler: the same
replies, journaled like jobs (read back by another process and by a fresh engine), answered
from the journal with ``cache="use"``, cancelled mid-stream (the server's job with it), and
sent as a ``/run`` job where the endpoint has no OpenAI route."""

from __future__ import annotations

import asyncio

import openai
import pytest

import rp_jupyter
from rp_jupyter.api.errors import (
    AuthenticationError,
    EndpointNotFoundError,
    InvalidRequestError,
    JobCancelledError,
    NotFoundError,
    ServerError,
)
from rp_jupyter.jobs.chat_reply import NO_ROUTE_NOTE, ChatReply
from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.local import LocalEndpoint
from rp_jupyter.local.examples import llm
from tests.client_support import run_python, wait_for

FAST = {"token_delay": 0}
QUESTION = [{"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What do rivers carry?"}]


@pytest.fixture
def server(llm_server):
    llm_server.faults.clear()
    llm_server.faults.retry_after = 0.01
    llm_server.reset_stats()
    yield llm_server
    llm_server.faults.clear()


@pytest.fixture
def endpoint(server):
    return rp_jupyter.Endpoint("llm", base_url=server.base_url)


def official(server: LocalEndpoint) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/openai/v1", api_key="unused", max_retries=0)


# -- the same replies as the official client --------------------------------------------------


def test_a_streamed_chat_reads_the_same_reply_as_the_official_openai_client(server, endpoint):
    theirs = official(server).chat.completions.create(
        model=llm.MODEL, messages=QUESTION, max_tokens=20, seed=4, extra_body=FAST)
    reply = endpoint.chat(QUESTION, max_tokens=20, seed=4, **FAST)
    assert isinstance(reply, ChatReply) and reply.id.startswith("chat-")
    pieces = list(reply.text_stream())
    assert "".join(pieces) == reply.text == theirs.choices[0].message.content
    output = reply.result()
    assert output["object"] == "chat.completion"
    assert output["choices"][0]["message"] == {"role": "assistant", "content": reply.text}
    assert reply.finish_reason == theirs.choices[0].finish_reason == "length"
    assert (reply.usage.input, reply.usage.output) == (theirs.usage.prompt_tokens, 20)
    assert reply.model == llm.MODEL
    assert reply.server_job_id and server.job_record(reply.server_job_id)["status"] == \
        "COMPLETED"


def test_a_chat_without_streaming_answers_the_whole_completion(server, endpoint):
    theirs = official(server).chat.completions.create(
        model=llm.MODEL, messages=QUESTION, max_tokens=9, seed=2, extra_body=FAST)
    reply = endpoint.chat(QUESTION, stream=False, max_tokens=9, seed=2, **FAST)
    output = reply.result(timeout=30)
    assert reply.chunks == []
    assert output["choices"][0]["message"]["content"] == theirs.choices[0].message.content
    assert reply.text == theirs.choices[0].message.content
    assert reply.usage.output == 9 and reply.ttft is not None


def test_a_completion_reads_the_same_text_as_the_official_client(server, endpoint):
    theirs = official(server).completions.create(
        model=llm.MODEL, prompt="Once upon a time", max_tokens=7, extra_body=FAST)
    reply = endpoint.completion("Once upon a time", max_tokens=7, **FAST)
    assert reply.result(timeout=30)["object"] == "text_completion"
    assert reply.text == theirs.choices[0].text and reply.usage.output == 7
    assert reply.mode == "completion"


def test_the_stream_arrives_piece_by_piece_with_time_to_first_token(server, endpoint):
    reply = endpoint.chat(QUESTION, max_tokens=30, seed=1, token_delay=0.02)
    pieces = list(reply.text_stream())
    assert len(pieces) > 3 and "".join(pieces) == reply.text
    assert 0 < reply.ttft < reply.elapsed
    assert reply.tokens_per_second is not None and 5 < reply.tokens_per_second < 200
    assert reply.delay_ms == pytest.approx(reply.ttft * 1000, abs=2)


def test_an_async_caller_awaits_chats_and_completions(server, endpoint):
    async def ask() -> tuple[dict, dict]:
        chat = await endpoint.achat(QUESTION, max_tokens=5, **FAST)
        done = await endpoint.acompletion("Hello", max_tokens=3, **FAST)
        return await chat, await done

    chat, done = asyncio.run(ask())
    assert chat["usage"]["completion_tokens"] == 5 and done["usage"]["completion_tokens"] == 3


def test_a_stream_holds_one_slot_of_the_openai_rate_limit_until_it_ends(server, endpoint):
    reply = endpoint.chat(QUESTION, max_tokens=40, token_delay=0.02)
    limiter = endpoint.runtime.client.limiters["openai"]
    assert (limiter.limit.requests, limiter.limit.per_seconds, limiter.limit.concurrency) == \
        (2000, 10.0, 400)
    wait_for(lambda: reply.chunk_count > 0, what="the first chunk")
    assert limiter.in_flight == 1
    reply.result(timeout=30)
    wait_for(lambda: limiter.in_flight == 0, what="the slot to be released")


# -- cancel -------------------------------------------------------------------------------------


def test_cancel_mid_stream_ends_the_reply_and_the_servers_job(server, endpoint):
    reply = endpoint.chat(QUESTION, max_tokens=400, token_delay=0.05)
    wait_for(lambda: reply.text, timeout=30, what="the first words")
    reply.cancel()
    assert reply.status == "CANCELLED"
    said = reply.text
    assert said and len(said.split()) < 100  # the text so far is kept
    wait_for(lambda: server.job_record(reply.server_job_id)["status"] == "CANCELLED",
             what="the server to cancel its job")
    with pytest.raises(JobCancelledError):
        reply.result()
    record = JobJournal.open().find(reply.id)
    assert record.status == "CANCELLED" and record.final
    assert rp_jupyter.Endpoint("llm", base_url=server.base_url).job(reply.id).text == said


# -- the journal ----------------------------------------------------------------------------------


def test_a_reply_is_read_back_by_another_process(server, endpoint, rp_home):
    reply = endpoint.chat(QUESTION, max_tokens=12, seed=8, **FAST)
    text = "".join(reply.text_stream())
    JobJournal.open().flush()
    read = """
        import json, sys
        import rp_jupyter
        output = rp_jupyter.result(sys.argv[1])
        listed = [(r.job_id, r.mode, r.status) for r in rp_jupyter.jobs()]
        print(json.dumps({"output": output, "listed": listed}))
        """
    found = run_python(read, {"RP_JUPYTER_HOME": str(rp_home)}, reply.id)
    assert found["output"]["choices"][0]["message"]["content"] == text
    assert [reply.id, "chat", "COMPLETED"] in found["listed"]


def test_a_fresh_engine_and_journal_read_a_reply_without_asking_the_server(server, endpoint):
    from rp_jupyter.jobs.engine import Engine

    reply = endpoint.chat(QUESTION, max_tokens=12, seed=9, **FAST)
    reply.result(timeout=30)
    text, ttft = reply.text, reply.ttft
    Engine.get().shutdown()  # as a kernel restart leaves things
    with JobJournal._instances_lock:
        journals = list(JobJournal._instances.values())
        JobJournal._instances.clear()
    for journal in journals:
        journal.close()
    server.reset_stats()
    again = rp_jupyter.Endpoint("llm", base_url=server.base_url).job(reply.id)
    assert isinstance(again, ChatReply) and again.source == "journal"
    assert again.text == text and again.usage.output == 12
    assert again.ttft == pytest.approx(ttft, abs=0.002)
    assert rp_jupyter.result(reply.id)["choices"][0]["message"]["content"] == text
    assert server.request_count() == 0


def test_a_reply_whose_reader_stopped_mid_stream_ends_where_it_was_cut(server, rp_home):
    ask = """
        import json, os, sys
        import rp_jupyter
        ep = rp_jupyter.Endpoint("llm", base_url=sys.argv[1])
        reply = ep.chat([{"role": "user", "content": "Tell me a long story"}],
                        max_tokens=400, token_delay=0.05)
        for piece in reply.text_stream():
            if len(reply.text.split()) >= 5:
                break
        rp_jupyter.jobs.journal.JobJournal.open().flush()
        print(json.dumps({"id": reply.id, "server": reply.server_job_id}), flush=True)
        os._exit(0)   # as a kernel that dies: no cancel, no goodbye
        """
    started = run_python(ask, {"RP_JUPYTER_HOME": str(rp_home)}, server.base_url)
    wait_for(lambda: server.job_record(started["server"])["status"] == "CANCELLED",
             what="the server to stop the job of a client that hung up")
    reply = rp_jupyter.Endpoint("llm", base_url=server.base_url).job(started["id"])
    assert reply.status == "CANCELLED" and len(reply.text.split()) >= 5
    assert "stream was cut" in str(reply.error)
    assert JobJournal.open().find(started["id"]).status == "CANCELLED"


def test_cache_use_answers_the_same_question_from_the_journal(server, endpoint):
    first = endpoint.chat(QUESTION, max_tokens=10, seed=5, **FAST)
    first.result(timeout=30)
    asked = server.request_count("openai")
    again = endpoint.chat(QUESTION, max_tokens=10, seed=5, cache="use", **FAST)
    plain = endpoint.chat(QUESTION, stream=False, max_tokens=10, seed=5, cache="use", **FAST)
    assert again.cached and plain.cached and again.id == plain.id == first.id
    assert again.text == plain.text == first.text and again.usage.output == 10
    assert server.request_count("openai") == asked  # nothing sent
    other = endpoint.chat(QUESTION, max_tokens=10, seed=6, cache="use", **FAST)
    assert not other.cached and other.result(timeout=30)
    assert server.request_count("openai") == asked + 1


# -- errors ----------------------------------------------------------------------------------------


def test_bad_messages_are_refused_before_anything_is_sent(server, endpoint):
    for messages, said in (("hello", "list of chat messages"), ([], "empty"),
                           ([{"content": "hi"}], "no 'role'"),
                           ([{"role": "user", "content": 3}], "content must be text")):
        with pytest.raises(InvalidRequestError, match=said):
            endpoint.chat(messages)
    with pytest.raises(InvalidRequestError, match="pass it as the argument"):
        endpoint.chat(QUESTION, prompt="hi")
    assert server.request_count() == 0


def test_a_model_the_endpoint_does_not_serve_is_an_error_not_a_fallback(server, endpoint):
    reply = endpoint.chat(QUESTION, model="no-such-model", **FAST)
    with pytest.raises(NotFoundError, match="no-such-model"):
        reply.result(timeout=30)
    assert reply.status == "FAILED" and reply.note is None
    assert server.request_count("run") == 0


def test_an_unknown_endpoint_is_an_error_not_a_fallback(server):
    reply = rp_jupyter.Endpoint("nope", base_url=server.base_url).chat(QUESTION)
    with pytest.raises(EndpointNotFoundError, match="'nope' not found"):
        reply.result(timeout=30)
    assert server.request_count("run") == 0


def test_429_and_503_are_sent_again_and_a_500_is_not(server, endpoint):
    server.faults.script("openai", ["429", "503"])
    reply = endpoint.chat(QUESTION, max_tokens=4, **FAST)
    assert reply.result(timeout=30)["usage"]["completion_tokens"] == 4
    server.faults.script("openai", ["500"])
    failed = endpoint.chat(QUESTION, max_tokens=4, **FAST)
    with pytest.raises(ServerError, match="may have been accepted"):
        failed.result(timeout=30)
    assert JobJournal.open().find(failed.id).status == "MAYBE_ACCEPTED"


def test_a_refused_key_is_an_authentication_error_and_the_key_is_never_kept(rp_home):
    key = "rpa_CHAT0KEY0never0shown0x7Q2m9"
    with LocalEndpoint("llm", endpoint_id="llm", api_key=key) as server:
        server.wait_ready(30)
        wrong = rp_jupyter.Endpoint("llm", base_url=server.base_url, api_key="rpa_wrong0key0")
        reply = wrong.chat(QUESTION, **FAST)
        with pytest.raises(AuthenticationError):
            reply.result(timeout=30)
        right = rp_jupyter.Endpoint("llm", base_url=server.base_url, api_key=key)
        assert right.chat(QUESTION, max_tokens=3, **FAST).result(timeout=30)
    JobJournal.open().flush()
    for path in rp_home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes()


# -- no OpenAI route -------------------------------------------------------------------------------


def test_an_endpoint_without_the_openai_route_gets_a_run_job_once(server, endpoint, rp_home):
    routed = endpoint.chat(QUESTION, max_tokens=15, seed=3, **FAST)
    routed.result(timeout=30)
    with LocalEndpoint("llm", endpoint_id="plain", openai_route=False) as plain:
        plain.wait_ready(30)
        ep = rp_jupyter.Endpoint("plain", base_url=plain.base_url)
        reply = ep.chat(QUESTION, max_tokens=15, seed=3, **FAST)
        assert reply.result(timeout=30)[0]["choices"][0]["tokens"]  # the worker's batches
        assert reply.text == routed.text and reply.usage.output == 15
        assert reply.note == NO_ROUTE_NOTE and reply.mode == "run"
        assert plain.job_record(reply.id)["status"] == "COMPLETED"  # it is the /run job
        job_input = plain.job_record(reply.id)["input"]
        assert job_input["messages"] == QUESTION and job_input["stream"] is True
        assert job_input["sampling_params"] == {"max_tokens": 15, "seed": 3}
        second = ep.chat(QUESTION, max_tokens=5, **FAST)
        assert second.note == NO_ROUTE_NOTE and second.result(timeout=30)
        assert plain.request_count("openai") == 1 and plain.request_count("run") == 2
        cached = ep.chat(QUESTION, max_tokens=15, seed=3, cache="use", **FAST)
        assert cached.cached and cached.text == routed.text
    records = {r.job_id: r for r in rp_jupyter.jobs(limit=None)}
    assert records[reply.id].note == NO_ROUTE_NOTE and records[reply.id].mode == "run"
    assert [r.status for r in records.values() if r.endpoint_id == "plain" and
            r.mode == "chat"] == ["SUBMIT_FAILED"]  # the one 404, journaled as such


# -- a conversation --------------------------------------------------------------------------------


def test_a_chat_sends_the_conversation_so_far_with_each_turn(server, endpoint):
    chat = rp_jupyter.Chat(endpoint, system="Answer briefly.", max_tokens=6, **FAST)
    first = chat.send("What do rivers carry?")
    second = chat.send("And glaciers?")  # waits for the first reply: it needs it
    assert second.messages == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What do rivers carry?"},
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": "And glaciers?"},
    ]
    second.result(timeout=30)
    assert chat.reply == second.text and len(chat.messages) == 5
    journaled = JobJournal.open().find(second.id).request["input"]["openai_input"]
    assert journaled["messages"] == second.messages

    variant = chat.fork()
    other = variant.send("And the wind?")
    assert other.messages[-1]["content"] == "And the wind?"
    assert [m["content"] for m in other.messages[1:3]] == ["What do rivers carry?", first.text]
    assert chat.turns[-1].reply is second  # the original is as it was


def test_a_turn_asked_again_under_its_key_replaces_it_and_keeps_the_old_branch(server, endpoint):
    chat = rp_jupyter.Chat(endpoint, max_tokens=4, **FAST)
    chat.send("One", key="a").result(timeout=30)
    chat.send("Two", key="b").result(timeout=30)
    chat.send("Three", key="c").result(timeout=30)
    again = chat.send("Two, again", key="b")
    assert [m["content"] for m in again.messages if m["role"] == "user"] == ["One", "Two, again"]
    again.result(timeout=30)
    assert [t.key for t in chat.turns] == ["a", "b"]
    assert [[t.question["content"] for t in branch] for branch in chat.branches] == \
        [["Two", "Three"]]


def test_a_failed_turn_is_left_out_of_the_conversation(server, endpoint):
    chat = rp_jupyter.Chat(endpoint, max_tokens=4, **FAST)
    chat.send("One").result(timeout=30)
    broken = chat.send("Two", model="no-such-model")
    broken.wait(30)
    third = chat.send("Three")
    assert [m["content"] for m in third.messages if m["role"] == "user"] == ["One", "Three"]
    assert len(chat.turns) == 3
