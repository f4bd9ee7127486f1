"""Hypothesis strategies for the fuzz properties: cells, flag lines, placeholders, Python
values, ids and raw HTTP requests.

Generators that inject a defect say so (``Example.bad``): such an input must be refused
before anything is sent.  Clean ones may be sent, and may still be refused (the random
parts can make them wrong), but never with a traceback.
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass
from urllib.parse import quote

from hypothesis import strategies as st

SECRET = "sk-FUZZ-SECRET-9f8e7d6c5b4a"
KEY = "fuzz-api-key-0123"

#: what the notebook namespace holds for placeholders and Python cells
NAMESPACE_SOURCE = f"""
from rp_jupyter import Secret
token = Secret({SECRET!r})
p = 'a "quoted"\\nline'
n = 3
loop = []
loop.append(loop)
class _Broken:
    def __str__(self):
        raise RuntimeError('no text')
    __repr__ = __str__
broken = _Broken()
"""


@dataclass(frozen=True)
class Example:
    source: str
    bad: bool  # a defect was injected: it must be refused before anything is sent
    why: str = ""


# -- pieces --------------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="{}"),
               max_size=30)
NAME = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)
JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63),
                        st.floats(allow_nan=False, allow_infinity=False), TEXT)
JSON_VALUE = st.recursive(JSON_SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=8)
JSON_OBJECT = st.dictionaries(TEXT, JSON_VALUE, max_size=4)

GOOD_DURATIONS = {"--timeout": ["10m", "90", "1h30m", "600s", "7d"],
                  "--ttl": ["1h", "600", "10s", "2h", "1d"]}
BAD_DURATION_WORDS = ["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-5", "0", "0s",
                      "1e-9", "-1m", "99999999999999999999999d", "1e308", "soon", "1h30x",
                      "m", "4s", "8d", "1e-400", "0x10"]
BAD_DURATIONS = st.one_of(st.sampled_from(BAD_DURATION_WORDS),
                          TEXT.map(lambda t: t.replace(" ", "") + "x"))

ESCAPING_IDS = ["../health", "../../b/purge-queue", "a/b", ".", "..", "a\\b", "x" * 300,
                "/", "..\\..", "i\x00d", "i\nd", "\x7f"]


@st.composite
def escaping_ids(draw) -> str:
    """An id that would leave its route: a separator, a dot name, a control character."""
    kind = draw(st.sampled_from(["fixed", "slash", "control", "long"]))
    if kind == "fixed":
        return draw(st.sampled_from(ESCAPING_IDS))
    base = draw(st.from_regex(r"[A-Za-z0-9-]{2,12}", fullmatch=True))
    cut = draw(st.integers(1, len(base) - 1))  # inside: spaces around an id are dropped
    if kind == "slash":
        return base[:cut] + draw(st.sampled_from(["/", "\\", "/../", "/."])) + base[cut:]
    if kind == "control":
        char = chr(draw(st.sampled_from([*range(32), 127, *range(0x80, 0xA0)])))
        return base[:cut] + char + base[cut:]
    return base * (300 // len(base) + 1)


def one_line(text: str) -> bool:
    """No line break (a line magic's argument cannot span lines)."""
    return "".join(text.splitlines()) == text


ODD_IDS = st.text(st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="/\\"),
                  min_size=1, max_size=20).filter(lambda t: t.strip() and t not in (".", ".."))


def quoted(text: str) -> str:
    return shlex.quote(text)


# -- %%runpod run cells ----------------------------------------------------------------------


@st.composite
def clean_flags(draw) -> list[str]:
    flags = []
    for flag in ("--timeout", "--ttl"):
        if draw(st.booleans()):
            flags += [flag, draw(st.sampled_from(GOOD_DURATIONS[flag]))]
    if draw(st.booleans()):
        flags += ["--cache", draw(st.sampled_from(["off", "use", "refresh"]))]
    if draw(st.booleans()):
        flags.append("--low-priority")
    if draw(st.booleans()):
        flags += ["-o", draw(NAME)]
    return flags


@st.composite
def clean_bodies(draw) -> tuple[str, list[str]]:
    """A body that reads well, and the flags it needs."""
    kind = draw(st.sampled_from(["json", "text", "python", "placeholders"]))
    if kind == "json":
        return json.dumps(draw(JSON_OBJECT), ensure_ascii=draw(st.booleans())), []
    if kind == "text":
        return "Tell me " + draw(TEXT), []
    if kind == "python":
        return "{'n': n * 2, 'p': p, 'token': token}", ["--format", "python"]
    return '{"prompt": "say {{ p }}", "n": {{ n }}, "token": {{ token }}}', []


@st.composite
def bad_bodies(draw) -> tuple[str, list[str], str]:
    """A body with a defect, the flags it needs, and what is wrong."""
    kind = draw(st.sampled_from(["deep", "surrogate", "truncated", "placeholder", "nul",
                                 "secret_in_text", "not_an_object", "nonfinite"]))
    if kind == "deep":
        depth = draw(st.integers(100, 20_000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ("{'a':", "}")]))
        inner = "1" if opener != "[" else ""
        return opener * depth + inner + closer * depth, [], "nested too deeply"
    if kind == "surrogate":
        body, flags = draw(clean_bodies())
        at = draw(st.integers(0, len(body)))
        return body[:at] + chr(draw(st.integers(0xD800, 0xDFFF))) + body[at:], flags, kind
    if kind == "truncated":
        text = json.dumps({"a": draw(JSON_VALUE), "b": 1})
        return text[:draw(st.integers(1, len(text) - 1))], [], "broken JSON"
    if kind == "placeholder":
        failing_anywhere = ["undefined_name", "1/0", "broken", " ", "[[1]] * 3 and (("]
        failing_as_json = ["10**5000", "loop", "object()", "{1, 2}",
                           "float('nan')"]  # as text these are fine (bytes become base64)
        expr = draw(st.sampled_from(failing_anywhere + failing_as_json))
        where = '{"a": {{ X }}}'
        if expr in failing_anywhere:
            where = draw(st.sampled_from([where, '{"a": "{{ X }}"}', "say {{ X }}"]))
        return where.replace("X", expr), [], f"placeholder {expr!r}"
    if kind == "nul":
        return "{'a': 'x\x00y'}", ["--format", "python"], "NUL in Python"
    if kind == "secret_in_text":
        return draw(st.sampled_from(["Use {{ token }} now", '{"p": "key {{ token }}"}'])), \
            [], kind
    if kind == "not_an_object":
        return draw(st.sampled_from(["[1, 2]", '"just a string"', "42"])), \
            ["--format", draw(st.sampled_from(["json", "python"]))], kind
    value = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400"]))
    return f'{{"a": [{value}]}}', [], kind


@st.composite
def bad_flags(draw) -> tuple[list[str], str]:
    kind = draw(st.sampled_from(["duration", "choice", "out", "webhook", "base_url", "sweep",
                                 "unknown", "text_key", "sync_sweep"]))
    if kind == "duration":
        flag = draw(st.sampled_from(["--timeout", "--ttl"]))
        return [flag, draw(BAD_DURATIONS)], kind
    if kind == "choice":
        flag = draw(st.sampled_from(["--format", "--cache"]))
        return [flag, draw(st.sampled_from(["bogus", "", "JSON", "yes"]))], kind
    if kind == "out":
        return ["-o", draw(st.sampled_from(["1x", "a b", "class", "x-y", "ü-1"]))], kind
    if kind == "webhook":
        return ["--webhook", draw(st.sampled_from(["x", "ftp://h/x", "http://", "//h/x",
                                                   "http://a b", "http://[::1"]))], kind
    if kind == "base_url":
        return ["--base-url", draw(st.sampled_from(["notaurl", "ftp://h", "http://",
                                                    "localhost:8000"]))], kind
    if kind == "sweep":
        return ["--sweep", draw(st.sampled_from(["x", "x=", "=1,2", "a..b=1", ".a=1", "a.=1",
                                                 "x=NaN", "x=1e400,2", "x=Infinity"]))], kind
    if kind == "unknown":
        return [draw(st.sampled_from(["--timout", "--ttll", "--frmat", "-x", "--no-such"]))], \
            kind
    if kind == "text_key":
        return ["--text-key", ""], kind
    return ["--sync", "--sweep", "x=1,2"], kind


def run_line(endpoint: str, flags: list[str]) -> str:
    return " ".join(["%%runpod run", quoted(endpoint), *(quoted(f) for f in flags)])


@st.composite
def run_cells(draw) -> Example:
    """A whole ``%%runpod run`` cell, clean or with one defect (in the body, a flag, the
    endpoint id or the line's quoting)."""
    flags = draw(clean_flags())
    defect = draw(st.sampled_from(["none", "none", "body", "flag", "endpoint", "quote"]))
    body, body_flags = draw(clean_bodies())
    why = ""
    endpoint = "echo"
    if defect == "body":
        body, body_flags, why = draw(bad_bodies())
    elif defect == "flag":
        extra, why = draw(bad_flags())
        flags += extra
    elif defect == "endpoint":
        endpoint, why = draw(escaping_ids()), "endpoint id"
    flags += body_flags
    flags.append("--dry-run" if draw(st.booleans()) else "--wait")
    line = run_line(endpoint, flags)
    if defect == "quote":
        line, why = line + " '--timeout 10m", "unclosed quote"
    return Example(f"{line}\n{body}", bad=defect != "none", why=why)


# -- %runpod line commands ---------------------------------------------------------------------


@st.composite
def command_lines(draw) -> Example:
    """A ``%runpod`` line command other than run, local and login."""
    kind = draw(st.sampled_from(["job", "jobs", "health", "purge", "endpoint", "name",
                                 "quote"]))
    if kind == "job":
        command = draw(st.sampled_from(["status", "cancel", "retry", "result"]))
        job_id = draw(escaping_ids().filter(one_line))
        return Example(f"%runpod {command} {quoted(job_id)}", True, "job id")
    if kind == "jobs":
        flag = draw(st.sampled_from(["--limit", "--last"]))
        value = draw(st.sampled_from(["0", "-1", "99999999999999999999999", "x", "nan",
                                      "inf", "1e400", "-3h", "0s", "0.5"]))
        if flag == "--limit" and draw(st.booleans()):
            value = str(draw(st.integers(min_value=10_001)))
        return Example(f"%runpod jobs {flag} {quoted(value)}", True, f"jobs {flag}")
    if kind == "health":
        value = draw(st.sampled_from(["nan", "inf", "0", "-1", "1e400", "0.1s", "2h", "x"]))
        return Example(f"%runpod health echo --interval {quoted(value)}", True, "interval")
    if kind == "purge":
        endpoint_id = draw(escaping_ids().filter(one_line))
        return Example(f"%runpod purge {quoted(endpoint_id)} --yes", True, "id")
    if kind == "endpoint":
        endpoint_id = draw(escaping_ids().filter(one_line))
        return Example(f"%runpod endpoint {quoted(endpoint_id)}", True, "id")
    if kind == "name":
        word = draw(st.sampled_from(["stauts", "jbos", "helth", "cancle", "runn", "x"]))
        return Example(f"%runpod {word}", True, "unknown command")
    return Example("%runpod status 'unclosed", True, "unclosed quote")


# -- placeholders ------------------------------------------------------------------------------

ODD_VALUES = st.one_of(
    JSON_VALUE,
    st.sampled_from([math.nan, math.inf, -math.inf, 10**400, 2**64, -(2**63) - 1, b"bytes",
                     {1, 2}, object(), ..., (1, 2), {"k": (1, {2: 3})}, "\udcff",
                     "x\x00y", "'\"\\", "{{ n }}"]),
    st.text(max_size=12),
)


# -- raw HTTP ----------------------------------------------------------------------------------

CLIENT_OPS = ["run", "runsync", "status", "status-sync", "stream", "cancel", "retry",
              "purge-queue", "health"]
OTHER_OPS = ["job-stream", "job-done", "ping", "worker-failed", "nope", "", "..", "%2e%2e"]


@st.composite
def _good_http_requests(draw) -> bytes:
    method, op = draw(st.sampled_from([("POST", "run"), ("POST", "runsync"), ("GET", "health"),
                                       ("GET", "status/{id}"), ("POST", "cancel/{id}"),
                                       ("GET", "stream/{id}"), ("POST", "purge-queue"),
                                       ("POST", "status-sync/{id}")]))
    job_id = quote(draw(ODD_IDS), safe="")
    body = b""
    if op in ("run", "runsync"):
        body = json.dumps({"input": draw(JSON_OBJECT)}).encode()
    lines = [f"{method} /v2/local/{op.format(id=job_id)} HTTP/1.1", "Host: 127.0.0.1",
             f"Authorization: {draw(st.sampled_from(['Bearer ', 'bearer ', '']))}{KEY}",
             "Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@st.composite
def http_requests(draw) -> tuple[bytes, bool]:
    """A raw HTTP/1.1 request, well formed or not, and whether it is complete: a complete
    one never leaves the server waiting for bytes that will not come (unless their
    declared length is over its limit).  Garbage is not complete: it may be a prefix."""
    roll = draw(st.integers(0, 9))
    if roll == 0:  # not HTTP at all
        return draw(st.binary(max_size=200)) + b"\r\n\r\n", False
    if roll < 4:  # a good request, with odd but valid parts
        return draw(_good_http_requests()), True
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
                                   "G\x00T", "POST POST"]))
    endpoint = draw(st.sampled_from(["local", "nope", "..", "%2e", "lo%2Fcal", ""]))
    op = draw(st.sampled_from(CLIENT_OPS + OTHER_OPS))
    extra = draw(st.lists(st.sampled_from(["abc", "..", "%00", "x" * 300, "a%2Fb", ""]),
                          max_size=2))
    path = "/".join(["", "v2", endpoint, op, *extra])
    if draw(st.integers(0, 4)) == 0:
        path = draw(st.sampled_from(["/", "/_local/stats", "/_local/faults/local",
                                     "/_local/jobs/local/x", "*", "//v2//", "/v2"]))
    query = draw(st.sampled_from(["", "?wait=nan", "?wait=inf", "?wait=-5", "?wait=10",
                                  "?ttl=nan", "?ttl=1e400", "?wait=soon", "?%zz=1", "?ttl="]))
    headers = ["Host: 127.0.0.1"]
    auth = draw(st.sampled_from(["right", "wrong", "none", "empty"]))
    headers += {"right": [f"Authorization: Bearer {KEY}"], "wrong": ["Authorization: nope"],
                "none": [], "empty": ["Authorization: "]}[auth]
    count = draw(st.sampled_from([0, 1, 5, 99, 101, 300]))
    headers += [f"X-F{i}: {'v' * draw(st.integers(0, 20))}" for i in range(count)]
    if draw(st.integers(0, 5)) == 0:
        headers.append("X-Big: " + "b" * draw(st.sampled_from([1000, 30_000, 40_000, 200_000])))
    body = draw(st.one_of(
        st.just(b""),
        st.builds(lambda v: json.dumps({"input": v}).encode(), JSON_OBJECT),
        st.binary(max_size=100),
        st.integers(50, 20_000).map(lambda d: b'{"input":' + b"[" * d + b"]" * d + b"}"),
        st.just(b'{"input": {"x": 1}, "policy": {"ttl": "nan", "executionTimeout": 1e400}}'),
        st.just(b'{"input": {}, "webhook": 5, "s3Config": []}'),
    ))
    framing = draw(st.sampled_from(["length", "length", "huge", "chunked", "bad_length"]))
    if framing == "length":
        headers.append(f"Content-Length: {len(body)}")
    elif framing == "huge":
        headers.append(f"Content-Length: {draw(st.sampled_from([10**12, 2**63, 2**40]))}")
        body = b""
    elif framing == "chunked":
        headers.append("Transfer-Encoding: chunked")
        body = (f"{len(body):x}\r\n".encode() + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    else:
        headers.append("Content-Length: " + draw(st.sampled_from(["-1", "abc", "1 2", ""])))
        body = b""
    head = f"{method} {path}{query} HTTP/1.1\r\n" + "\r\n".join(headers) + "\r\n\r\n"
    return head.encode("utf-8", "surrogateescape") + body, True
