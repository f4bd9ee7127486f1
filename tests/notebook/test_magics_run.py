"""``%%runpod run`` in a real IPython shell against the local endpoint."""

from __future__ import annotations

import json

from IPython.core.error import UsageError

from rp_jupyter.jobs.job import Job
from tests.notebook.magic_shell import total_requests


def echo_of(run) -> dict:
    assert run.error is None, run.stderr
    job = run.value
    assert isinstance(job, Job)
    return job.result(timeout=30)["echo"]


def test_load_ext_registers_the_line_and_cell_magic(ip):
    magics = ip.shell.magics_manager.magics
    assert "runpod" in magics["line"] and "runpod" in magics["cell"]
    doc = ip.shell.find_magic("runpod", "line").__doc__
    for command in ("run", "status", "cancel", "retry", "result", "jobs", "health", "purge",
                    "local", "config", "login", "endpoint"):
        assert f"%runpod {command}" in doc


def test_json_cell_is_sent_as_the_input(ip, local):
    run = ip.run('%%runpod run echo\n{"prompt": "hi", "n": 2}')
    assert echo_of(run) == {"prompt": "hi", "n": 2}
    assert local.endpoint("echo").request_count(op="run") == 1


def test_python_dict_cell_uses_notebook_variables(ip, local):
    ip.run("topic = 'otters'; n = 3")
    run = ip.run('%%runpod run echo\n{"prompt": f"about {topic}", "n": n * 2}')
    assert echo_of(run) == {"prompt": "about otters", "n": 6}


def test_text_cell_is_sent_as_a_prompt(ip, local):
    run = ip.run("%%runpod run echo\nTell me a joke\nabout cats")
    assert echo_of(run) == {"prompt": "Tell me a joke\nabout cats"}


def test_text_key_names_the_field_for_text_cells(ip, local):
    run = ip.run("%%runpod run echo --text-key question\nWhy is the sky blue?")
    assert echo_of(run) == {"question": "Why is the sky blue?"}


def test_format_text_sends_a_brace_body_as_text(ip, local):
    run = ip.run("%%runpod run echo --format text\n{not json}")
    assert echo_of(run) == {"prompt": "{not json}"}


def test_format_python_accepts_any_expression_that_gives_a_dict(ip, local):
    ip.run("params = {'a': 1}")
    run = ip.run("%%runpod run echo --format python\ndict(params, b=2)")
    assert echo_of(run) == {"a": 1, "b": 2}


def test_placeholder_holding_quotes_and_newlines_cannot_break_json(ip, local):
    ip.user_ns["tricky"] = 'she said "hi"\nthen left \\ back'
    ip.user_ns["count"] = 7
    run = ip.run('%%runpod run echo\n{"prompt": "Quote: {{ tricky }}", "n": {{ count }}, '
                 '"raw": {{ tricky }}}')
    assert echo_of(run) == {"prompt": 'Quote: she said "hi"\nthen left \\ back', "n": 7,
                            "raw": 'she said "hi"\nthen left \\ back'}


def test_placeholders_fill_text_cells(ip, local):
    ip.user_ns["animal"] = "heron"
    run = ip.run("%%runpod run echo\nDescribe a {{ animal.upper() }}")
    assert echo_of(run) == {"prompt": "Describe a HERON"}


def test_no_expand_keeps_placeholders_literally(ip, local):
    run = ip.run("%%runpod run echo --no-expand\nKeep {{ this }}")
    assert echo_of(run) == {"prompt": "Keep {{ this }}"}


def test_cell_value_is_the_job_and_lands_in_underscore(ip, local):
    run = ip.run('%%runpod run echo\n{"x": 1}')
    assert isinstance(run.value, Job)
    assert ip.user_ns["_"] is run.value


def test_trailing_semicolon_silences_the_value(ip, local):
    ip.run("marker = 1\nmarker")
    run = ip.run('%%runpod run echo -o silenced\n{"x": 1};')
    assert run.error is None
    assert run.value is None
    assert ip.user_ns["_"] == 1  # the display hook did not run
    assert ip.user_ns["silenced"].result(timeout=30) == {"echo": {"x": 1}}


def test_out_binds_the_job_at_once(ip, local):
    run = ip.run('%%runpod run echo -o myjob\n{"x": 2}')
    assert ip.user_ns["myjob"] is run.value


def test_sync_uses_runsync(ip, local):
    run = ip.run('%%runpod run echo --sync\n{"x": 3}')
    assert echo_of(run) == {"x": 3}
    handle = local.endpoint("echo")
    assert handle.request_count(op="runsync") == 1
    assert handle.request_count(op="run") == 0


def test_timeout_ttl_low_priority_and_webhook_reach_the_request(ip, local):
    run = ip.run("%%runpod run echo --timeout 10m --ttl 2h --low-priority "
                 "--webhook http://127.0.0.1:9/hook\n{\"x\": 4}")
    job = run.value
    assert job.result(timeout=30) == {"echo": {"x": 4}}
    assert job.request.body["policy"] == {"executionTimeout": 600_000, "lowPriority": True,
                                          "ttl": 7_200_000}
    assert job.request.body["webhook"] == "http://127.0.0.1:9/hook"


def test_terminal_run_blocks_and_prints_the_final_output(ip, local):
    run = ip.run('%%runpod run tokens\n{"prompt": "alpha beta gamma", "rate": 200}')
    job = run.value
    assert job.is_final  # plain IPython blocks in the cell
    assert "alpha" in run.stdout and "gamma" in run.stdout


def test_cache_use_answers_from_the_journal_without_a_request(ip, local):
    first = ip.run('%%runpod run echo --cache use\n{"same": true}').value
    first.result(timeout=30)
    handle = local.endpoint("echo")
    before = handle.request_count()
    second = ip.run('%%runpod run echo --cache use\n{"same": true}').value
    assert second.cached
    assert second.result() == {"echo": {"same": True}}
    assert handle.request_count() == before


def test_dry_run_shows_the_request_and_sends_nothing(ip, local, monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", "rpa_SECRET_KEY_123456")
    run = ip.run('%%runpod run echo --dry-run --timeout 90s\n{"prompt": "hi"}')
    assert run.error is None
    text = repr(run.value)
    assert "POST " + local.base_url + "/echo/run" in text
    assert json.dumps({"input": {"prompt": "hi"}, "policy": {"executionTimeout": 90000}},
                      indent=2) in text
    assert "rpa_SECRET_KEY_123456" not in text + run.stdout + run.stderr
    assert "Bearer ********" in text
    assert total_requests(local) == 0


def test_sweep_runs_the_product_of_the_values(ip, local):
    run = ip.run("%%runpod run echo --sweep a=1,2 --sweep b=x,y\n{\"base\": true}")
    assert run.error is None, run.stderr
    rows = run.value.result(timeout=60)
    records = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
    outputs = sorted(json.dumps(r["output"], sort_keys=True) for r in records)
    expected = sorted(json.dumps({"echo": {"base": True, "a": a, "b": b}}, sort_keys=True)
                      for a in (1, 2) for b in ("x", "y"))
    assert outputs == expected
    assert local.endpoint("echo").request_count(op="run") == 4


# -- errors: one clear message, no traceback, nothing sent ----------------------------------


def assert_usage_error(run, *fragments: str) -> None:
    assert isinstance(run.error, UsageError), run.error
    shown = run.stdout + run.stderr
    assert "Traceback" not in shown
    for fragment in fragments:
        assert fragment in str(run.error), str(run.error)


def test_malformed_json_reports_line_column_and_caret_and_sends_nothing(ip, local):
    run = ip.run('%%runpod run echo\n{"a": 1,\n "b" 2}')
    assert_usage_error(run, "not valid JSON", "line 3 of the cell, column 6", ' "b" 2}',
                       "     ^", "Hint:")
    assert total_requests(local) == 0


def test_json_list_is_refused(ip, local):
    run = ip.run("%%runpod run echo\n[1, 2, 3]")
    assert_usage_error(run, "must be an object")
    assert total_requests(local) == 0


def test_undefined_placeholder_is_named(ip, local):
    run = ip.run('%%runpod run echo\n{"prompt": "{{ nowhere }}"}')
    assert_usage_error(run, "'nowhere' is not defined")
    assert total_requests(local) == 0


def test_unknown_flag_suggests_the_right_one(ip, local):
    run = ip.run('%%runpod run echo --timout 5m\n{"x": 1}')
    assert_usage_error(run, "unknown argument '--timout'", "did you mean --timeout?")
    assert total_requests(local) == 0


def test_bad_duration_says_how_to_write_one(ip, local):
    run = ip.run('%%runpod run echo --timeout soon\n{"x": 1}')
    assert_usage_error(run, "--timeout soon is not a duration", "90s, 10m, 2h")
    assert total_requests(local) == 0


def test_out_of_range_timeout_is_refused_before_sending(ip, local):
    run = ip.run('%%runpod run echo --timeout 2s\n{"x": 1}')
    assert_usage_error(run, "--timeout 2s is out of range", "between 5 s and 7 days",
                       "--timeout 10m")
    assert total_requests(local) == 0


def test_no_endpoint_set_is_a_clear_error(ip, local):
    run = ip.run('%%runpod run\n{"x": 1}')
    assert_usage_error(run, "no endpoint", "%runpod endpoint ID")
    assert total_requests(local) == 0


def test_a_hosted_id_without_a_key_asks_for_the_key(ip, monkeypatch):
    monkeypatch.delenv("RUNPOD_ENDPOINT_BASE_URL", raising=False)
    run = ip.run('%%runpod run some-endpoint\n{"x": 1}')
    assert_usage_error(run, "endpoint 'some-endpoint' is on the hosted Runpod API, which "
                       "needs your API key", "%runpod login", "RUNPOD_API_KEY")


def test_a_typo_of_a_running_local_endpoint_says_so_and_lists_the_running_ones(ip, monkeypatch):
    monkeypatch.delenv("RUNPOD_ENDPOINT_BASE_URL", raising=False)
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    ip.run("%runpod local tokens")
    try:
        for cell in ('%%runpod run token\n{"x": 1}', "%runpod health nosuchendpoint"):
            run = ip.run(cell)
            assert "API key" not in str(run.error).splitlines()[0]
            assert_usage_error(run, "is not a local endpoint running here (running: tokens)",
                               "%runpod local HANDLER --id")
        assert "did you mean 'tokens'?" in str(ip.run('%%runpod run token\n{"x": 1}').error)
    finally:
        ip.run("%runpod local --stop")


def test_a_local_endpoint_from_before_a_restart_says_to_start_it_again(ip, monkeypatch):
    monkeypatch.delenv("RUNPOD_ENDPOINT_BASE_URL", raising=False)
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    ip.run("%runpod local echo --id lasttime")
    assert ip.run('%%runpod run lasttime --wait\n{"x": 1}').error is None
    ip.run("%runpod local --stop")  # as a kernel restart stops it
    run = ip.run('%%runpod run lasttime\n{"x": 2}')
    assert_usage_error(run, "'lasttime' was a local endpoint", "%runpod local HANDLER --id "
                       "lasttime")


def test_an_unclosed_brace_says_what_is_missing(ip, local):
    run = ip.run('%%runpod run echo\n{"a": {"b": [1, 2]}')
    assert_usage_error(run, "'}' is missing at the end of the cell: the '{' opened at line 2, "
                       "column 1 is never closed")
    run = ip.run('%%runpod run echo\n{"a": [1, 2}')
    assert_usage_error(run, "']' is missing before the '}' at line 2, column 12")
    assert total_requests(local) == 0


def test_unknown_endpoint_is_one_message(ip, local):
    run = ip.run('%%runpod run nosuch\n{"x": 1}')
    assert_usage_error(run, "endpoint 'nosuch' not found")


def test_run_without_a_cell_explains_the_cell_form(ip, local):
    run = ip.run("%runpod run echo")
    assert_usage_error(run, "%%runpod run")
