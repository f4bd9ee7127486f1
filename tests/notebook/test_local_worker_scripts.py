"""``%runpod local worker.py`` in a real IPython shell: an unchanged runpod worker script
is served, and one that cannot be served says why in one message, without a traceback."""

from __future__ import annotations

import textwrap

from IPython.core.error import UsageError

MAIN_STYLE = """
    import runpod

    def run_words_job(job):
        for word in job["input"]["text"].split():
            yield word.upper()

    def main():
        runpod.serverless.start({"handler": run_words_job, "return_aggregate_stream": True})

    if __name__ == "__main__":
        main()
"""


def test_local_serves_a_script_that_starts_inside_main(ip, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(MAIN_STYLE))
    run = ip.run(f"%runpod local {script}")
    assert run.error is None, run.stderr
    assert "Local endpoint 'worker'" in run.stdout
    try:
        cell = ip.run('%%runpod run --wait\n{"text": "served unchanged"}')
        assert cell.error is None, cell.stderr
        assert cell.value.result(timeout=30) == ["SERVED", "UNCHANGED"]
    finally:
        ip.run("%runpod local --stop")


def test_a_script_that_cannot_load_gives_one_message_and_can_be_fixed(ip, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent("""
        import os
        import runpod

        WEIGHTS = os.environ["WEIGHTS_PATH_FOR_THIS_TEST"]

        def handler(job):
            return WEIGHTS

        runpod.serverless.start({"handler": handler})
    """))
    run = ip.run(f"%runpod local {script}")
    assert isinstance(run.error, UsageError)
    message = str(run.error)
    assert "cannot start the local endpoint: worker.py raised KeyError: " \
           "'WEIGHTS_PATH_FOR_THIS_TEST' (line 5) while loading" in message
    assert "Traceback" not in message and "Traceback" not in run.stderr
    script.write_text(textwrap.dedent(MAIN_STYLE))
    fixed = ip.run(f"%runpod local {script}")
    try:
        assert fixed.error is None, fixed.stderr
        cell = ip.run('%%runpod run --wait\n{"text": "fixed now"}')
        assert cell.value.result(timeout=30) == ["FIXED", "NOW"]
    finally:
        ip.run("%runpod local --stop")


def test_a_script_without_handler_or_start_is_refused_at_once(ip, tmp_path):
    script = tmp_path / "nothing.py"
    script.write_text("def predict(job):\n    return 1\n")
    run = ip.run(f"%runpod local {script}")
    assert isinstance(run.error, UsageError)
    assert "nothing.py has no function 'handler' and does not call " \
           "runpod.serverless.start(...)" in str(run.error)


def test_local_runpod_worker_runs_the_script_as_it_is_and_shows_its_environment(ip, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(MAIN_STYLE))
    run = ip.run(f"%runpod local {script} --runpod-worker")
    assert run.error is None, run.stderr
    try:
        assert "runs `" in run.stdout and "worker.py` unchanged, as runpod-python" in run.stdout
        assert "RUNPOD_WEBHOOK_GET_JOB=http://127.0.0.1:" in run.stdout
        cell = ip.run('%%runpod run --wait\n{"text": "as it is"}')
        assert cell.error is None, cell.stderr
        assert cell.value.result(timeout=60) == ["AS", "IT", "IS"]
    finally:
        ip.run("%runpod local --stop")
