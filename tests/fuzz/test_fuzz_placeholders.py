"""Fuzzing how placeholders are read: Python dict cells with every kind of string literal
(plain, raw, bytes, f-, triple-quoted), quotes of the other kind and ``#`` inside them,
comments holding quotes and placeholders, and any text as a value.  Each cell must read as
exactly the dict it spells, each placeholder evaluated once, none in a comment."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rp_jupyter.notebook.cell_input import parse_cell
from tests.fuzz.tally import count, examples

ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
PLAIN = st.text(st.sampled_from("abc XYZ 0#:,;!?é"), max_size=6)  # what a raw piece may hold
PREFIXES = ["", "r", "b", "f", "u", "R", "B", "F", "rb", "Rb", "br", "fr", "rf"]
QUOTES = ["'", '"', "'''", '"""']


@st.composite
def literals(draw, index: int, namespace: dict[str, Any]) -> tuple[str, Any]:
    """One string literal with placeholders in it, and the value it must read as."""
    prefix, quote = draw(st.sampled_from(PREFIXES)), draw(st.sampled_from(QUOTES))
    raw, is_bytes = "r" in prefix.lower(), "b" in prefix.lower()
    other = '"' if quote[0] == "'" else "'"
    source, value = "", ""
    for n in range(draw(st.integers(0, 3))):
        piece = draw(PLAIN) + (other if draw(st.booleans()) else "")
        if is_bytes:
            piece = piece.replace("é", "e")
        name = f"t{index}_{n}"
        text = draw(PLAIN if raw or is_bytes else ANY_TEXT)
        if raw and is_bytes:
            text = text.replace("é", "e")
        namespace[name] = text
        source += piece + f"{{{{ {name} }}}}"
        value += piece + text
    tail = draw(PLAIN).replace("é", "e") if is_bytes else draw(PLAIN)
    source, value = source + tail, value + tail
    return f"{prefix}{quote}{source}{quote}", value.encode() if is_bytes else value


@st.composite
def cells(draw) -> tuple[str, dict[str, Any], dict[str, Any]]:
    namespace: dict[str, Any] = {"calls": []}
    lines, expected = ["{"], {}
    for i in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):  # a comment with quotes and a placeholder that must not run
            lines.append(f"  # it's \"{draw(PLAIN)}\" {{{{ calls.append({i}) }}}}")
        if draw(st.booleans()):
            namespace[f"v{i}"] = draw(ANY_TEXT | st.integers() | st.none())
            source, value = f"{{{{ v{i} }}}}", namespace[f"v{i}"]
        else:
            source, value = draw(literals(i, namespace))
        lines.append(f"  'k{i}': {source},")
        expected[f"k{i}"] = value
    lines.append("}")
    return "\n".join(lines), namespace, expected


@settings(max_examples=examples(150))
@given(cell=cells())
def test_fuzzed_python_cells_read_as_the_dict_they_spell(cell):
    source, namespace, expected = cell
    for format in ("python", "auto"):
        assert parse_cell(source, namespace, format=format).value == expected, source
    assert namespace["calls"] == []  # a placeholder in a comment never ran
    count("placeholders in strings", examples=1, accepted=1)
