"""Unchanged runpod worker scripts: the handler and config are found wherever
``runpod.serverless.start`` is called, and a script that cannot be served says why."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from rp_jupyter.local import HandlerLoadError, LocalEndpoint
from tests.local.conftest import process_alive, submit, wait_for, wait_status


def _script(tmp_path, name: str, source: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


def test_start_at_module_level_with_any_handler_name_keeps_its_config(start_endpoint, client,
                                                                      tmp_path):
    path = _script(tmp_path, "worker.py", """
        import runpod

        def run_words_job(job):
            for word in job["input"]["text"].split():
                yield word

        runpod.serverless.start({"handler": run_words_job, "return_aggregate_stream": True})
    """)
    ep = start_endpoint(path)
    doc = client.post(f"{ep.url}/runsync", json={"input": {"text": "a b c"}}).json()
    assert doc["status"] == "COMPLETED"
    assert doc["output"] == ["a", "b", "c"]


def test_start_inside_main_under_the_main_guard_is_found(start_endpoint, client, tmp_path):
    (tmp_path / "proxy.py").write_text(textwrap.dedent("""
        async def handler(job):
            yield {"chunk": 1, "prefix": PREFIX}
            yield {"chunk": 2, "prefix": PREFIX}

        PREFIX = None
    """))
    path = _script(tmp_path, "main.py", """
        import os

        def main():
            import proxy as proxy_handler
            import runpod

            proxy_handler.PREFIX = "set in main"
            limit = int(os.getenv("MAX_CONCURRENCY", "3"))
            runpod.serverless.start({
                "handler": proxy_handler.handler,
                "concurrency_modifier": lambda _current: limit,
                "return_aggregate_stream": True,
            })

        if __name__ == "__main__":
            main()
    """)
    ep = start_endpoint(path)
    doc = client.post(f"{ep.url}/runsync", json={"input": {}}).json()
    assert doc["output"] == [{"chunk": 1, "prefix": "set in main"},
                             {"chunk": 2, "prefix": "set in main"}]


def test_a_named_handler_replaces_the_one_given_to_start(start_endpoint, client, tmp_path):
    path = _script(tmp_path, "two.py", """
        import runpod

        def first(job):
            yield "first"

        def second(job):
            yield "second"

        runpod.serverless.start({"handler": first, "return_aggregate_stream": True})
    """)
    ep = start_endpoint(f"{path}:second")
    assert client.post(f"{ep.url}/runsync", json={"input": {}}).json()["output"] == ["second"]


def test_refresh_worker_in_the_config_gives_every_job_a_fresh_worker(start_endpoint, client,
                                                                     tmp_path):
    path = _script(tmp_path, "fresh.py", """
        import os
        import runpod

        def handler(job):
            return {"pid": os.getpid()}

        if __name__ == "__main__":
            runpod.serverless.start({"handler": handler, "refresh_worker": True})
    """)
    ep = start_endpoint(path)
    first = client.post(f"{ep.url}/runsync", json={"input": {}}).json()["output"]["pid"]
    wait_for(lambda: not process_alive(first), what="the used worker to be replaced")
    second = client.post(f"{ep.url}/runsync", json={"input": {}}).json()["output"]["pid"]
    assert second != first


CONCURRENT = """
    import asyncio
    import os
    import runpod

    async def slow_echo(job):
        await asyncio.sleep(job["input"].get("sleep", 0))
        return {"pid": os.getpid(), "n": job["input"]["n"]}

    if __name__ == "__main__":
        runpod.serverless.start({"handler": slow_echo, "concurrency_modifier": lambda c: 4})
"""


def test_concurrency_modifier_runs_several_jobs_at_once_on_one_worker(start_endpoint, client,
                                                                      tmp_path):
    ep = start_endpoint(_script(tmp_path, "conc.py", CONCURRENT), workers=1)
    ids = [submit(client, ep, {"n": n, "sleep": 2.0}) for n in range(4)]
    docs = [wait_status(client, ep, job_id, "COMPLETED", timeout=20) for job_id in ids]
    assert sorted(d["output"]["n"] for d in docs) == [0, 1, 2, 3]
    assert len({d["output"]["pid"] for d in docs}) == 1
    records = [ep.job_record(job_id) for job_id in ids]
    assert max(r["started_at"] for r in records) < min(r["finished_at"] for r in records)


def test_cancelling_one_concurrent_job_leaves_the_others_running(start_endpoint, client,
                                                                 tmp_path):
    ep = start_endpoint(_script(tmp_path, "conc.py", CONCURRENT), workers=1)
    doomed = submit(client, ep, {"n": 0, "sleep": 60})
    survivor = submit(client, ep, {"n": 1, "sleep": 1.0})
    wait_status(client, ep, doomed, "IN_PROGRESS")
    pid = ep.workers()[0]["pid"]
    assert client.post(f"{ep.url}/cancel/{doomed}").json()["status"] == "CANCELLED"
    done = wait_status(client, ep, survivor, "COMPLETED", timeout=20)
    assert done["output"]["pid"] == pid and process_alive(pid)
    wait_for(lambda: ep.workers()[0]["state"] == "idle" and not ep.workers()[0]["job_id"],
             what="the worker to let go of the cancelled job")
    assert ep.workers()[0]["pid"] == pid


def test_a_concurrent_job_that_ignores_its_stop_ends_its_worker(start_endpoint, client,
                                                                tmp_path, monkeypatch):
    monkeypatch.setattr("rp_jupyter.local.worker_pool.STOP_GRACE", 0.3)
    path = _script(tmp_path, "stuck.py", """
        import os
        import runpod

        async def stubborn(job):
            if job["input"].get("spin"):
                while True:  # never awaits: the stop cannot reach it
                    pass
            return {"pid": os.getpid()}

        runpod.serverless.start({"handler": stubborn, "concurrency_modifier": lambda c: 2})
    """)
    ep = start_endpoint(path, workers=1)
    job_id = submit(client, ep, {"spin": True})
    running = wait_status(client, ep, job_id, "IN_PROGRESS")
    pid = ep.workers()[0]["pid"]
    assert client.post(f"{ep.url}/cancel/{job_id}").json()["status"] == "CANCELLED"
    wait_for(lambda: not process_alive(pid), what="the stuck worker to be ended")
    doc = client.post(f"{ep.url}/runsync", json={"input": {}}).json()
    assert doc["status"] == "COMPLETED" and doc["output"]["pid"] != pid
    assert doc["workerId"] != running["workerId"]


# -- scripts that cannot be served ----------------------------------------------------


@pytest.mark.parametrize("source, words", [
    ("def predict(job):\n    return 1\n",
     "has no function 'handler' and does not call runpod.serverless.start"),
    ("def handler(job)\n    return 1\n", "has a syntax error at line 1"),
])
def test_a_script_that_can_never_be_served_is_refused_at_once(tmp_path, source, words):
    path = _script(tmp_path, "bad.py", source)
    with pytest.raises(ValueError, match=words) as raised:
        LocalEndpoint(path)
    assert "Traceback" not in str(raised.value)


@pytest.mark.parametrize("source, words", [
    ("""
     import os
     import runpod

     MODEL = os.environ["NO_SUCH_MODEL_VARIABLE"]

     def handler(job):
         return MODEL

     runpod.serverless.start({"handler": handler})
     """, "raised KeyError: 'NO_SUCH_MODEL_VARIABLE' (line 5) while loading"),
    ("""
     import sys
     import runpod

     try:
         raise ValueError("Missing required environment variable 'MODEL_NAMES'")
     except Exception as e:
         sys.stderr.write(f"\\nstartup failed: {e}\\n")
         sys.exit(1)

     async def async_generator_handler(job):
         return {}

     if __name__ == "__main__":
         runpod.serverless.start({"handler": async_generator_handler})
     """, "exited with code 1 while loading, before it called runpod.serverless.start; "
          "it last wrote: startup failed: Missing required environment variable "
          "'MODEL_NAMES'"),
    ("""
     import runpod
     import no_such_package_for_this_test

     def handler(job):
         return 1

     runpod.serverless.start({"handler": handler})
     """, "imports 'no_such_package_for_this_test', which is not installed"),
    ("""
     import runpod

     def handler_in_disguise(job):
         return 1

     def never_called():
         runpod.serverless.start({"handler": handler_in_disguise})
     """, "ran to its end without calling runpod.serverless.start"),
    ("""
     import runpod

     runpod.serverless.start({"handler": None})
     """, "has no 'handler' in its start() config"),
])
def test_a_script_that_fails_while_loading_says_why(start_endpoint, tmp_path, source, words):
    ep = start_endpoint(_script(tmp_path, "worker.py", source), ready=False)
    with pytest.raises(HandlerLoadError) as raised:
        ep.wait_ready(20.0)
    message = str(raised.value)
    assert words in message
    assert message.startswith("worker.py ") or message.startswith(str(tmp_path))
    assert "Traceback" not in message and "\n" not in message
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, RuntimeError)


def test_serve_exits_with_one_clear_message_for_a_script_that_cannot_load(tmp_path):
    path = _script(tmp_path, "worker.py", """
        import runpod

        raise RuntimeError("the model weights are missing")

        def handler(job):
            return 1

        runpod.serverless.start({"handler": handler})
    """)
    done = subprocess.run([sys.executable, "-m", "rp_jupyter.local.cli", "serve", path,
                           "--port", "0", "--ready-timeout", "20"], capture_output=True,
                          text=True, timeout=60, cwd=str(tmp_path))
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == ["rp-jupyter: worker.py raised RuntimeError: the model weights are missing "
                     "(line 4) while loading; fix the script (or set what it needs in the "
                     "environment) and start again"]
    assert "Press Ctrl+C" not in done.stdout


def test_the_script_runs_in_the_worker_with_the_platform_environment(start_endpoint, client,
                                                                     tmp_path):
    path = _script(tmp_path, "envy.py", """
        import os
        import sys
        import runpod

        SEEN = {"name": __name__, "argv0": os.path.basename(sys.argv[0]),
                "pod": os.environ.get("RUNPOD_POD_ID")}

        def handler(job):
            return SEEN

        runpod.serverless.start({"handler": handler})
    """)
    ep = start_endpoint(path)
    doc = client.post(f"{ep.url}/runsync", json={"input": {}}).json()
    assert doc["output"] == {"name": "__main__", "argv0": "envy.py", "pod": doc["workerId"]}
    assert os.path.exists(path)
