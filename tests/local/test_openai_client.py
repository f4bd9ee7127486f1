"""The official ``openai`` client, sync and async, against the local endpoint's OpenAI route:
``base_url=f"{endpoint.url}/openai/v1"``, unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest

from rp_jupyter.local import LocalServer
from rp_jupyter.local.examples import llm
from tests.local.conftest import wait_for

KEY = "openai-key"
FAST = {"token_delay": 0}
MESSAGES = [{"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What do rivers carry?"}]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        srv.add_endpoint("llm", "llm", api_key=KEY)
        srv.add_endpoint("embed", "embed", api_key=KEY)
        for handle in srv.endpoints.values():
            handle.wait_ready(20.0)
        yield srv


def client_for(server: LocalServer, endpoint: str = "llm", **options) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.endpoint(endpoint).url}/openai/v1", api_key=KEY,
                         **options)


def test_chat_without_and_with_streaming_gives_the_same_reply(server):
    client = client_for(server)
    reply = client.chat.completions.create(model=llm.MODEL, messages=MESSAGES, max_tokens=12,
                                           seed=5, extra_body=FAST)
    assert reply.object == "chat.completion" and reply.model == llm.MODEL
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 12 and reply.usage.prompt_tokens > 0
    assert reply._request_id and reply._request_id.startswith("sync-")
    stream = client.chat.completions.create(model=llm.MODEL, messages=MESSAGES,
                                            max_tokens=12, seed=5, stream=True,
                                            stream_options={"include_usage": True},
                                            extra_body=FAST)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == reply.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == 12


def test_a_stream_split_anywhere_reads_the_same(server):
    client = client_for(server)
    kwargs = {"model": llm.MODEL, "messages": MESSAGES, "max_tokens": 30, "seed": 9,
              "stream": True}
    split = client.chat.completions.create(**kwargs, extra_body={**FAST, "sse_split": "bytes"})
    whole = client.chat.completions.create(**kwargs, extra_body=FAST)

    def text(stream) -> str:
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    assert text(split) == text(whole) != ""


def test_completions_streaming_and_not(server):
    client = client_for(server)
    done = client.completions.create(model=llm.MODEL, prompt="Once upon a time", max_tokens=6,
                                     extra_body=FAST)
    assert done.object == "text_completion" and done.usage.completion_tokens == 6
    streamed = client.completions.create(model=llm.MODEL, prompt="Once upon a time",
                                         max_tokens=6, stream=True, extra_body=FAST)
    assert "".join(c.choices[0].text for c in streamed) == done.choices[0].text


def test_models_lists_the_served_model(server):
    assert [m.id for m in client_for(server).models.list()] == [llm.MODEL]


def test_embeddings_through_the_embed_handler(server):
    client = client_for(server, "embed")
    result = client.embeddings.create(model="BAAI/bge-small-en-v1.5",
                                      input=["a cat", "a dog"])
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) == 384
    assert result.data[0].embedding != result.data[1].embedding
    assert result.usage.total_tokens > 0
    assert [m.id for m in client.models.list()] == ["BAAI/bge-small-en-v1.5"]


def test_errors_raise_the_client_exceptions(server):
    client = client_for(server, max_retries=0)
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-nope", messages=MESSAGES)
    assert missing.value.status_code == 404
    assert "The model `gpt-nope` does not exist." in str(missing.value)
    with pytest.raises(openai.BadRequestError, match="messages must be"):
        client.chat.completions.create(model=llm.MODEL, messages=[])
    stranger = openai.OpenAI(base_url=client.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.models.list()
    with pytest.raises(openai.BadRequestError, match="Did not specify model"):
        client_for(server, "embed", max_retries=0).embeddings.create(model="", input="x")


def test_the_client_retries_an_injected_503_and_then_gets_its_answer(server):
    handle = server.endpoint("llm")
    handle.reset_stats()
    handle.faults.retry_after = 0.01
    handle.faults.script("openai", ["503"])
    try:
        models = client_for(server, max_retries=2).models.list()
    finally:
        handle.faults.clear()
    assert [m.id for m in models] == [llm.MODEL]
    assert [e["status_code"] for e in handle.request_log] == [503, 200]


def test_closing_a_stream_early_cancels_the_job(server):
    handle = server.endpoint("llm")
    stream = client_for(server).chat.completions.create(
        model=llm.MODEL, messages=MESSAGES, max_tokens=300, stream=True,
        extra_body={"token_delay": 0.1})
    job_id = stream.response.headers["x-request-id"]
    first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    stream.close()
    record = wait_for(lambda: (r := handle.job_record(job_id)) and r["status"] != "IN_PROGRESS"
                      and r, timeout=10, what="the job to end")
    assert record["status"] == "CANCELLED"


def test_the_async_client_streams_and_answers(server):
    async def scenario() -> tuple[str, str, list[str]]:
        client = openai.AsyncOpenAI(base_url=server.endpoint("llm").openai_base_url,
                                    api_key=KEY)
        try:
            reply = await client.chat.completions.create(
                model=llm.MODEL, messages=MESSAGES, max_tokens=15, seed=2, extra_body=FAST)
            stream = await client.chat.completions.create(
                model=llm.MODEL, messages=MESSAGES, max_tokens=15, seed=2, stream=True,
                extra_body=FAST)
            text = "".join([c.choices[0].delta.content or "" async for c in stream
                            if c.choices])
            models = [m.id async for m in client.models.list()]
            return reply.choices[0].message.content, text, models
        finally:
            await client.close()

    whole, streamed, models = asyncio.run(scenario())
    assert streamed == whole != "" and models == [llm.MODEL]


def test_async_requests_run_concurrently_on_one_llm_worker(server):
    async def scenario() -> list[str]:
        client = openai.AsyncOpenAI(base_url=server.endpoint("llm").openai_base_url,
                                    api_key=KEY)
        try:
            replies = await asyncio.gather(*[client.chat.completions.create(
                model=llm.MODEL, messages=[{"role": "user", "content": f"question {i}"}],
                max_tokens=40, extra_body={"token_delay": 0.05}) for i in range(4)])
            return [r._request_id for r in replies]
        finally:
            await client.close()

    ids = asyncio.run(scenario())
    records = [server.endpoint("llm").job_record(job_id) for job_id in ids]
    assert len({r["worker_id"] for r in records}) == 1
    assert max(r["started_at"] for r in records) < min(r["finished_at"] for r in records)
