"""Malformed cells and flag lines end in one short ``UsageError`` with a hint, no internal
traceback, and nothing sent (issue 13, magics); ids and secrets in the magics."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from rp_jupyter.jobs.journal import JobJournal
from tests.notebook.magic_shell import total_requests

DEEP_JSON = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000


def refused(ip, local, source: str, *fragments: str) -> str:
    """Run ``source``: it must end in a UsageError holding ``fragments`` and a hint, print
    no traceback, send nothing and journal nothing.  Returns the message."""
    run = ip.run(source)
    assert isinstance(run.error, UsageError), repr(run.error)
    message = str(run.error)
    assert "Traceback" not in run.stdout + run.stderr
    assert "\nHint: " in message
    for fragment in fragments:
        assert fragment in message, message
    assert total_requests(local) == 0
    assert JobJournal.open().count() == 0
    message.encode("utf-8")  # printable, whatever the cell held
    return message


@pytest.mark.parametrize(("flags", "fragments"), [
    ("--timeout nan", ("--timeout nan is out of range", "between 5 s and 7 days",
                       "e.g. --timeout 10m")),
    ("--timeout inf", ("--timeout inf is out of range",)),
    ("--timeout 1e400", ("--timeout 1e400 is out of range",)),
    ("--timeout -5", ("--timeout -5 is out of range",)),
    ("--timeout 0", ("--timeout 0 is out of range", "between 5 s and 7 days")),
    ("--timeout 99999999999999999999999d", ("out of range",)),
    ("--ttl inf", ("--ttl inf is out of range", "between 10 s and 7 days", "--ttl 1h")),
    ("--ttl nan", ("--ttl nan is out of range",)),
    ("--ttl 3s", ("--ttl 3s is out of range",)),
    ("--ttl 8d", ("--ttl 8d is out of range",)),
    ("--webhook not-a-url", ("--webhook not-a-url is not an http(s) URL",
                             "e.g. --webhook https://")),
    ("--base-url notaurl", ("--base-url notaurl is not an http(s) URL",)),
    ("-o 1x", ("--out 1x is not a Python variable name", "e.g. --out job1")),
    ("-o class", ("--out class is not a Python variable name",)),
    ("--text-key ''", ("--text-key needs a name",)),
    ("--sweep a..b=1,2", ("a dotted key needs a name between the dots",)),
    ("--sweep x=NaN,1", ("--sweep x[0] is nan",)),
    ("--sweep x=1,2 --sweep y=" + ",".join(map(str, range(200)))
     + " --sweep z=" + ",".join(map(str, range(100))), ("40,000 jobs",)),
])
def test_a_bad_flag_value_is_one_usage_error_with_its_range(ip, local, flags, fragments):
    refused(ip, local, f'%%runpod run echo {flags}\n{{"x": 1}}', *fragments)


def test_a_bad_timeout_from_the_settings_names_where_it_came_from(ip, local):
    ip.run("%config RunpodMagics.execution_timeout = 'nan'")
    refused(ip, local, '%%runpod run echo\n{"x": 1}', "(from RunpodMagics.execution_timeout)")


@pytest.mark.parametrize("body", [DEEP_JSON, DEEP_OBJECT])
def test_a_body_nested_ten_thousand_deep_is_one_usage_error(ip, local, body):
    refused(ip, local, f"%%runpod run echo\n{body}", "nests objects or lists too deeply")


@pytest.mark.parametrize("flags", ["--dry-run --sweep a=1,2", "--sweep a=1,2", "--dry-run"])
def test_a_body_a_few_hundred_deep_is_refused_before_a_sweep_or_dry_run_copies_it(
        ip, local, flags):
    body = '{"x":' * 600 + "1" + "}" * 600
    refused(ip, local, f"%%runpod run echo {flags}\n{body}", "nested more than 99 levels deep")


def test_a_python_body_nested_deeper_than_json_allows_names_its_path(ip, local):
    body = "{'a':" * 150 + "1" + "}" * 150
    refused(ip, local, f"%%runpod run echo --format python\n{body}",
            "input.a.a", "nested more than 99 levels deep")


@pytest.mark.parametrize("body", ["hello \ud800 world", '{"a": "\udcff"}',
                                  '{"k\ud800": 1}'])
def test_a_lone_surrogate_in_the_cell_is_one_usage_error(ip, local, body):
    refused(ip, local, f"%%runpod run echo\n{body}", "unpaired surrogate")


@pytest.mark.parametrize(("body", "fragment"), [
    ('{"a": {{ 10**5000 }}}', "a number too large for JSON"),
    ("{'a': 10**5000}", "input.a is a number too large for JSON"),
    ('{"a": 1e400}', "input.a is inf"),
    ('{"a": NaN}', "input.a is nan"),
    ('{"a": {{ loop }}}', "contains itself"),
    ('{"a": "{{ broken }}"}', "cannot be turned into text"),
    ("text with {{ broken }}", "cannot be turned into text"),
])
def test_huge_odd_or_broken_values_are_one_usage_error(ip, local, body, fragment):
    loop: list = []
    loop.append(loop)

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    ip.user_ns.update(loop=loop, broken=Broken())
    refused(ip, local, f"%%runpod run echo\n{body}", fragment)


def test_sweeping_into_a_value_that_is_not_an_object_is_one_usage_error(ip, local):
    refused(ip, local, "%%runpod run echo --sweep prompt.x=1,2\nhello", "'prompt' is a str")
    refused(ip, local, "%%runpod run echo --dry-run --sweep prompt.x=1,2\nhello",
            "'prompt' is a str")


@pytest.mark.parametrize("line", [
    "%runpod jobs --limit 99999999999999999999999999",
    "%runpod jobs --limit -1",
    "%runpod jobs --last nan",
    "%runpod jobs --last inf",
    "%runpod health echo --interval nan",
    "%runpod health echo --interval 1e400",
    "%runpod health echo --interval 0",
    "%runpod local echo --workers 99999999999999999999",
    "%runpod local echo --retention nan",
    "%runpod local echo --retention 0",
])
def test_bad_numbers_in_commands_are_one_usage_error_with_the_range(ip, local, line):
    refused(ip, local, line, "is out of range: it must be between")


@pytest.mark.parametrize("command", ["status", "cancel", "retry", "result"])
@pytest.mark.parametrize("job_id", ["../health", "../../b/purge-queue", "a/b", ".", "..",
                                    "'a\x01b'", "'tab\there'"])
def test_a_job_id_that_would_leave_its_route_is_refused_by_every_command(ip, local, command,
                                                                         job_id):
    ip.run("%runpod endpoint echo")
    refused(ip, local, f"%runpod {command} {job_id}", "invalid job id", "nothing was sent")


@pytest.mark.parametrize("line", ["%runpod endpoint ..", "%runpod health ../echo",
                                  "%runpod purge a/b --yes", "%%runpod run ../x\n{}",
                                  "%runpod local echo --id ../x"])
def test_an_endpoint_id_that_would_leave_its_route_is_refused(ip, local, line):
    message = refused(ip, local, line)
    assert "invalid endpoint id" in message or "cannot start the local endpoint" in message


SECRET = "hf_NOTEBOOK-SECRET-0123"


def test_a_secret_placeholder_is_sent_but_masked_in_dry_run_output_and_the_jobs_table(ip,
                                                                                     local):
    ip.run(f"from rp_jupyter import Secret\ntoken = Secret({SECRET!r})")
    dry = ip.run('%%runpod run echo --dry-run\n{"prompt": "hi", "token": {{ token }}}')
    assert dry.error is None and SECRET not in repr(dry.value) + dry.value._repr_html_()
    assert '"token": "********"' in repr(dry.value)
    assert total_requests(local) == 0
    run = ip.run('%%runpod run echo --wait\n{"prompt": "hi", "token": {{ token }}}')
    assert run.error is None, run.error
    job = run.value
    assert local.endpoint("echo").job_record(job.id)["input"]["token"] == SECRET
    assert job.result(timeout=30) == {"echo": {"prompt": "hi", "token": "********"}}
    table = ip.run("%runpod jobs")
    shown = run.stdout + run.stderr + table.stdout + table.stderr + repr(job.input)
    assert SECRET not in shown
    JobJournal.open().flush()
    stored = b"".join(p.read_bytes() for p in JobJournal.open().path.parent.glob("journal*"))
    assert SECRET.encode() not in stored


@pytest.mark.parametrize("body", ["Use {{ token }} please", '{"prompt": "key {{ token }}"}'])
def test_a_secret_written_into_text_is_refused(ip, local, body):
    ip.run(f"from rp_jupyter import Secret\ntoken = Secret({SECRET!r})")
    message = refused(ip, local, f"%%runpod run echo\n{body}", "cannot be written into text")
    assert SECRET not in message


@pytest.mark.parametrize("body", ["Tell me [", "it's (an open paren", "  a\n b\nc"])
def test_a_text_cell_that_python_cannot_tokenize_is_sent_without_an_error(ip, local, body):
    run = ip.run(f"%%runpod run echo --wait\n{body}")
    assert run.error is None, run.error
    assert run.value.result(timeout=30) == {"echo": {"prompt": body.strip("\n").rstrip()}}


def test_a_trailing_semicolon_silences_a_line_command_too(ip, local):
    run = ip.run("%runpod config;")
    assert run.error is None and run.value is None


@pytest.mark.parametrize(("line", "fragment"), [
    ("%runpod local echo --id 'a b'", "invalid endpoint id 'a b'"),
    ("%runpod local /tmp", "not a handler spec"),
    ("%runpod local 'a\x00b'", "not a handler spec"),
])
def test_a_local_endpoint_that_cannot_start_is_one_usage_error(ip, local, line, fragment):
    try:
        refused(ip, local, line, fragment)
    finally:
        ip.run("%runpod local --stop")


def test_a_handler_its_worker_cannot_load_is_one_usage_error_naming_why(ip, local):
    """``os:path`` names no function: refused when the endpoint is added, in one
    UsageError saying why, with no traceback."""
    try:
        run = ip.run("%runpod local os:path")
        assert isinstance(run.error, UsageError)
        assert "cannot start the local endpoint: os has no function 'path'" in str(run.error)
        assert "Traceback" not in run.stderr
    finally:
        ip.run("%runpod local --stop")
