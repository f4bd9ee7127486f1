"""The OpenAI-compatible route on the wire: job mapping, SSE relay, errors, limits, faults,
disconnects.  (The official ``openai`` client is in ``test_openai_client.py``.)"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from rp_jupyter.local import LocalServer, RateLimit
from rp_jupyter.local.openai_stream import frame
from tests.local.conftest import FAST_POLICY, wait_for

H = "tests.local.handlers"
KEY = "route-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
HI = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        srv.add_endpoint("llm", "llm", workers=1, api_key=KEY)
        for name in ("sse_without_done", "chunk_objects", "fails_mid_stream",
                     "returns_openai_list", "raises_plain", "done_then_lingers"):
            srv.add_endpoint(name, f"{H}:{name}", api_key=KEY,
                             return_aggregate_stream=True)
        for handle in srv.endpoints.values():
            handle.wait_ready(20.0)
        yield srv


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0, headers=AUTH) as c:
        yield c


def url(server: LocalServer, endpoint: str, path: str) -> str:
    return f"{server.endpoint(endpoint).openai_base_url}/{path}"


def events(text: str) -> list:
    out = []
    for block in text.split("\n\n"):
        if block.startswith("data: "):
            data = block[len("data: "):]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_a_request_becomes_a_job_with_the_platform_input(server, client):
    body = {"model": "m", "input": ["x"], "encoding_format": "float"}
    response = client.post(url(server, "returns_openai_list", "embeddings"), json=body)
    assert response.status_code == 200
    assert response.json() == {"object": "list", "route": "/v1/embeddings", "body": body}
    job_id = response.headers["x-request-id"]
    record = server.endpoint("returns_openai_list").job_record(job_id)
    assert record["input"] == {"openai_route": "/v1/embeddings", "openai_input": body}
    models = client.get(url(server, "returns_openai_list", "models")).json()
    assert models == {"object": "list", "route": "/v1/models", "body": None}


def test_a_stream_is_relayed_as_server_sent_events_while_it_is_produced(server, client):
    body = {**HI, "stream": True, "max_tokens": 30, "token_delay": 0.05}
    with client.stream("POST", url(server, "llm", "chat/completions"), json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        job_id = response.headers["x-request-id"]
        pieces = []
        for piece in response.iter_text():
            if not pieces:  # the job is still running when its first chunk arrives
                assert server.endpoint("llm").job_record(job_id)["status"] == "IN_PROGRESS"
            pieces.append(piece)
    got = events("".join(pieces))
    assert got[-1] == "[DONE]" and "".join(pieces).count("[DONE]") == 1
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in got[:-1])
    assert len(text.split()) >= 20


def test_done_is_added_and_objects_are_framed(server, client):
    plain = client.post(url(server, "sse_without_done", "chat/completions"),
                        json={**HI, "stream": True}).text
    assert [e if e == "[DONE]" else e["choices"][0]["delta"]["content"]
            for e in events(plain)] == ["one ", "two", "[DONE]"]
    framed = client.post(url(server, "chunk_objects", "chat/completions"),
                         json={**HI, "stream": True}).text
    assert framed.startswith('data: {"object":"chat.completion.chunk"')
    assert [e if e == "[DONE]" else e["choices"][0]["delta"]["content"]
            for e in events(framed)] == ["a ", "b ", "c", "[DONE]"]


def test_a_stream_split_anywhere_arrives_whole(server, client):
    body = {**HI, "stream": True, "max_tokens": 25, "token_delay": 0, "seed": 4}
    split = client.post(url(server, "llm", "chat/completions"),
                        json={**body, "sse_split": "bytes"}).text
    whole = client.post(url(server, "llm", "chat/completions"), json=body).text

    def content(text: str) -> str:
        return "".join(e["choices"][0]["delta"].get("content", "")
                       for e in events(text) if e != "[DONE]")

    assert content(split) == content(whole) and split.endswith("data: [DONE]\n\n")


def test_a_job_failing_mid_stream_ends_with_an_error_event(server, client):
    text = client.post(url(server, "fails_mid_stream", "chat/completions"),
                       json={**HI, "stream": True}).text
    got = events(text)
    assert got[0]["choices"][0]["delta"]["content"] == "partial"
    assert "the model fell over" in got[1]["error"]["message"]
    assert got[-1] == "[DONE]"


def test_without_stream_the_answer_is_the_first_output_element(server, client):
    response = client.post(url(server, "llm", "completions"),
                           json={"prompt": "Once", "max_tokens": 4, "token_delay": 0})
    assert response.status_code == 200
    assert response.json()["object"] == "text_completion"
    assert response.json()["usage"]["completion_tokens"] == 4


@pytest.mark.parametrize("endpoint, path, kwargs, status, words", [
    ("llm", "chat/completions", {"content": b"{nope"}, 400, "invalid JSON"),
    ("llm", "chat/completions", {"json": [1, 2]}, 400, "must be a JSON object"),
    ("llm", "chat/completions", {"json": {"model": "other", **HI}}, 404,
     "The model `other` does not exist."),
    ("llm", "chat/completions", {"json": {"messages": "hi"}}, 400, "messages must be"),
    ("llm", "images/generations", {"json": {}}, 404, "unknown route /openai/v1/images"),
    ("raises_plain", "chat/completions", {"json": HI}, 500,
     "ValueError: cannot answer that"),
])
def test_errors_come_in_openai_shape_with_their_status(server, client, endpoint, path,
                                                       kwargs, status, words):
    response = client.post(url(server, endpoint, path), **kwargs)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert words in error["message"]


def test_auth_method_and_unknown_endpoint(server):
    models = url(server, "llm", "models")
    assert httpx.get(models).status_code == 401
    assert httpx.get(models, headers={"Authorization": "Bearer wrong"}).json()["error"][
        "code"] == "invalid_api_key"
    assert httpx.get(models, headers={"Authorization": KEY}).status_code == 200
    wrong = httpx.post(models, headers=AUTH, json={})
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"
    unknown = f"{server.base_url}/nobody/openai/v1/models"
    assert httpx.get(unknown).status_code == 401
    missing = httpx.get(unknown, headers=AUTH)
    assert missing.status_code == 404 and "not found" in missing.json()["error"]["message"]


def test_requests_are_counted_and_faults_apply_to_the_openai_op(server, client):
    handle = server.endpoint("returns_openai_list")
    handle.reset_stats()
    handle.faults.script("openai", ["503", "429", "ok"])
    handle.faults.retry_after = 0.5
    try:
        first = client.get(url(server, "returns_openai_list", "models"))
        second = client.get(url(server, "returns_openai_list", "models"))
        third = client.get(url(server, "returns_openai_list", "models"))
    finally:
        handle.faults.clear()
    assert [first.status_code, second.status_code, third.status_code] == [503, 429, 200]
    assert second.headers["retry-after"] == "0.5"
    assert first.json()["error"]["type"] == "server_error"
    assert handle.request_count("openai") == 3
    assert [e["status_code"] for e in handle.request_log] == [503, 429, 200]


def test_the_openai_rate_limit_is_in_the_table_and_answers_429(start_endpoint, client):
    ep = start_endpoint(f"{H}:returns_openai_list", api_key=KEY)
    assert ep.settings.effective_rate_limits()["openai"] == RateLimit(2000, 10.0, 400)
    ep.settings.rate_limits = {"openai": RateLimit(2, 10.0, None)}
    codes = [client.get(f"{ep.openai_base_url}/models").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    refused = client.get(f"{ep.openai_base_url}/models")
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"


def test_a_client_that_hangs_up_mid_stream_cancels_the_job(server):
    handle = server.endpoint("llm")
    body = json.dumps({**HI, "stream": True, "max_tokens": 200, "token_delay": 0.1})
    host, port = server.host, server.port
    request = (f"POST /v2/llm/openai/v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
               f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n{body}")
    with socket.create_connection((host, port), timeout=20) as sock:
        sock.sendall(request.encode())
        head = b""
        while b"data: " not in head:
            head += sock.recv(4096)
    job_id = next(line.split(":", 1)[1].strip() for line in head.decode().split("\r\n")
                  if line.lower().startswith("x-request-id"))
    record = wait_for(lambda: (r := handle.job_record(job_id)) and r["status"] != "IN_PROGRESS"
                      and r, timeout=10, what="the job to end after the hang-up")
    assert record["status"] == "CANCELLED"
    assert record["chunks"] < 30


def test_a_client_that_leaves_once_it_has_done_does_not_cancel_the_job(server):
    handle = server.endpoint("done_then_lingers")
    with httpx.Client(timeout=20, headers=AUTH) as client, client.stream(
            "POST", f"{handle.openai_base_url}/chat/completions",
            json={**HI, "stream": True}) as response:
        job_id = response.headers["x-request-id"]
        received = ""
        for text in response.iter_text():
            received += text
            if "data: [DONE]" in received:
                break  # leaves with the reply whole, while the job still runs
    assert handle.job_record(job_id)["status"] == "IN_PROGRESS"
    record = wait_for(lambda: (r := handle.job_record(job_id)) and r["status"] != "IN_PROGRESS"
                      and r, timeout=10, what="the job to end")
    assert record["status"] == "COMPLETED"


def test_a_job_that_outlives_its_execution_timeout_is_a_504(start_endpoint, client):
    ep = start_endpoint("llm", api_key=KEY, default_execution_timeout=0.5, **FAST_POLICY)
    response = client.post(f"{ep.openai_base_url}/chat/completions",
                           json={**HI, "max_tokens": 100, "token_delay": 0.05})
    assert response.status_code == 504
    assert response.headers["x-should-retry"] == "false"
    assert "execution timeout" in response.json()["error"]["message"]


def test_no_answer_in_time_is_a_408_and_cancels_the_job(start_endpoint, client):
    ep = start_endpoint("chaos", api_key=KEY, openai_timeout=0.3)
    busy = client.post(f"{ep.url}/run", json={"input": {"sleep": 30}}).json()["id"]
    response = client.post(f"{ep.openai_base_url}/chat/completions", json=HI)
    assert response.status_code == 408
    job_id = response.headers["x-request-id"]
    assert ep.job_record(job_id)["status"] == "CANCELLED"
    client.post(f"{ep.url}/cancel/{busy}")


def test_frame_passes_text_and_frames_objects():
    assert frame("data: x\n\n") == "data: x\n\n"
    assert frame({"a": 1}) == 'data: {"a":1}\n\n'
    assert frame([{"a": 1}, {"b": "é"}]) == 'data: {"a":1}\n\ndata: {"b":"é"}\n\n'
