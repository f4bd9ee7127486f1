"""Placeholders as the user wrote them: each ``{{ }}`` evaluated once per cell run, strings
and comments read the way Python and JSON read them, error carets in the cell as written,
and a text body sent as written."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from rp_jupyter.notebook.cell_input import CellInputError, parse_cell
from tests.notebook.magic_shell import total_requests


def echo_of(run) -> dict:
    assert run.error is None, run.stderr
    return run.value.result(timeout=30)["echo"]


def test_a_body_read_as_python_after_json_evaluates_each_placeholder_once(ip, local):
    ip.run("it = iter(range(100))")
    run = ip.run("%%runpod run echo\n{'a': {{ next(it) }}, 'b': {{ next(it) }}}")
    assert echo_of(run) == {"a": 0, "b": 1}
    assert ip.run("next(it)").value == 2  # nothing was evaluated twice


def test_a_secret_sends_a_json_body_through_python_without_evaluating_twice(ip, local):
    ip.run("import rp_jupyter\ncalls = []\n"
           "def token():\n    calls.append(1)\n    return rp_jupyter.Secret('s3cr3t-value')")
    run = ip.run('%%runpod run echo\n{"token": {{ token() }}, "n": {{ len(calls) }}}')
    assert echo_of(run)["n"] == 1  # the token was made once, before "n" was read
    assert ip.user_ns["calls"] == [1]


def test_a_quote_in_a_python_comment_does_not_hide_a_placeholder_in_a_string(ip, local):
    ip.run("name = 'Ann'")
    run = ip.run("%%runpod run echo\n{  # it's the greeting\n 'prompt': 'hi {{ name }}'}")
    assert echo_of(run) == {"prompt": "hi Ann"}


def test_a_placeholder_in_a_python_comment_is_never_evaluated(ip, local):
    ip.run("ran = []")
    run = ip.run("%%runpod run echo\n{'a': 1}  # was {{ ran.append(1) or undefined }}")
    assert echo_of(run) == {"a": 1}
    assert ip.user_ns["ran"] == []


def test_quotes_inside_a_placeholders_expression_do_not_end_its_string(ip, local):
    ip.run("d = {'k': 'K'}\nn = 3")
    run = ip.run('%%runpod run echo\n{"a": "x {{ d["k"] }} y", "b": "{{ n }}"}')
    assert echo_of(run) == {"a": "x K y", "b": "3"}


@pytest.mark.parametrize(("body", "expected"), [
    ('{"p": r"C:\\{{ n }}"}', {"p": "C:\\3"}),
    ("{'f': f'{{ v }} {n}'}", {"f": 'a{b}" 3'}),
    ('{"t": """say "{{ v }}" now"""}', {"t": 'say "a{b}"" now'}),
    ("{'b': b'{{ u }}'}", {"b": "é".encode()}),
    ("{'s': 'it\\'s {{ n }}'}", {"s": "it's 3"}),
])
def test_each_kind_of_python_string_gets_the_value_as_it_reads(body, expected):
    namespace = {"n": 3, "v": 'a{b}"', "u": "é"}
    assert parse_cell(body, namespace, format="python").value == expected


def test_a_value_a_raw_string_cannot_hold_is_refused_with_a_way_out():
    with pytest.raises(CellInputError, match="stands in a raw string") as caught:
        parse_cell("{'p': r'{{ path }}'}", {"path": "a'b"})
    assert "outside it" in caught.value.hint


def test_a_json_caret_points_into_the_cell_as_written(ip, local):
    ip.user_ns["long"] = "x" * 60
    run = ip.run('%%runpod run echo\n{"n": 1,\n "a": "{{ long }}" "b": 2}')
    assert isinstance(run.error, UsageError)
    message = str(run.error)
    assert "line 3 of the cell, column 20" in message
    assert '\n     "a": "{{ long }}" "b": 2}\n' + " " * 23 + "^" in message
    assert "x" * 60 not in message
    assert total_requests(local) == 0


def test_a_python_caret_points_into_the_cell_as_written(ip, local):
    ip.user_ns["long"] = "y" * 60
    run = ip.run("%%runpod run echo --format python\n{'a': {{ long }}, 'c': '{{ long }}',"
                 " 'b': }")
    message = str(run.error)
    assert "line 2 of the cell" in message
    assert "{'a': {{ long }}, 'c': '{{ long }}', 'b': }" in message
    caret_line = message.split("\n")[2]
    assert caret_line.index("^") - 4 == len("{'a': {{ long }}, 'c': '{{ long }}', 'b'")
    assert "y" * 60 not in message


def test_a_text_cell_ending_in_a_semicolon_keeps_it_and_is_silenced(ip, local):
    ip.run("marker = 1\nmarker")
    run = ip.run("%%runpod run echo -o said\nTell me a joke;")
    assert run.error is None and run.value is None  # silenced, as IPython does
    assert ip.user_ns["_"] == 1
    assert ip.user_ns["said"].result(timeout=30) == {"echo": {"prompt": "Tell me a joke;"}}


def test_a_json_cell_ending_in_a_semicolon_is_read_without_it(ip, local):
    run = ip.run('%%runpod run echo -o said\n{"x": 1};')
    assert run.value is None
    assert ip.user_ns["said"].result(timeout=30) == {"echo": {"x": 1}}
