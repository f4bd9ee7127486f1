"""Nothing stale: ``%runpod local NAME`` after editing NAME runs the new code, and the
journal answers ``--cache use`` (and the playground) only with results of the same code."""

from __future__ import annotations

import pytest

from tests.notebook.magic_shell import total_requests

V1 = "def answer(job):\n    return {'version': 1, 'q': job['input']['q']}"
V2 = "def answer(job):\n    return {'version': 2, 'q': job['input']['q']}"


@pytest.fixture
def local_answer(ip):
    """``answer`` defined in the notebook and served by ``%runpod local``."""
    ip.run(V1)
    run = ip.run("%runpod local answer")
    assert run.error is None, run.stderr
    yield ip
    ip.run("%runpod local --stop")


def output_of(ip, flags: str = "", q: int = 1):
    run = ip.run(f'%%runpod run {flags}\n{{"q": {q}}}')
    assert run.error is None, run.stderr
    return run.value, run.value.result(timeout=30)


def test_local_after_editing_the_handler_runs_the_new_code(local_answer):
    ip = local_answer
    assert output_of(ip)[1]["version"] == 1
    ip.run(V2)
    run = ip.run("%runpod local answer")
    assert "restarted with the edited code" in run.stdout
    assert output_of(ip)[1]["version"] == 2


def test_local_with_unchanged_code_reuses_the_running_endpoint(local_answer):
    ip = local_answer
    before = ip.magics.local.server.endpoint("answer")
    ip.run(V1)  # the same cell run again
    run = ip.run("%runpod local answer")
    assert "already running" in run.stdout
    assert ip.magics.local.server.endpoint("answer")._runtime is before._runtime


def test_editing_a_helper_the_handler_uses_counts_as_an_edit(ip):
    ip.run("def suffix():\n    return 'one'")
    ip.run("def speak(job):\n    return {'said': suffix()}")
    ip.run("%runpod local speak")
    try:
        assert output_of(ip)[1] == {"said": "one"}
        ip.run("def suffix():\n    return 'two'")
        assert "restarted" in ip.run("%runpod local speak").stdout
        assert output_of(ip)[1] == {"said": "two"}
    finally:
        ip.run("%runpod local --stop")


def test_cache_use_answers_only_with_results_of_the_same_code(local_answer):
    ip = local_answer
    first, _ = output_of(ip, "--cache use", q=7)
    again, _ = output_of(ip, "--cache use", q=7)
    assert again.cached and again.id == first.id
    ip.run(V2)
    ip.run("%runpod local answer")
    server = ip.magics.local.server
    before = total_requests(server)
    fresh, output = output_of(ip, "--cache use", q=7)
    assert not fresh.cached and output["version"] == 2
    assert total_requests(server) > before


def test_the_playground_follows_the_same_rule(local_answer):
    ip = local_answer
    ip.run("import rp_jupyter")
    ip.run("board = rp_jupyter.playground('answer', {'q': 5}, q=[5, 6])")
    first = ip.user_ns["board"].job
    assert first.result(timeout=30)["version"] == 1
    ip.run("board = rp_jupyter.playground('answer', {'q': 5}, q=[5, 6])")
    assert ip.user_ns["board"].job.cached  # the same code: answered from the journal
    ip.run(V2)
    ip.run("%runpod local answer")
    ip.run("board = rp_jupyter.playground('answer', {'q': 5}, q=[5, 6])")
    board = ip.user_ns["board"]
    assert not board.job.cached and board.job.result(timeout=30)["version"] == 2
