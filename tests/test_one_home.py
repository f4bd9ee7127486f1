"""Each fact has one home: the API's facts in wire_rules, environment variable names in
env_names, and no two modules sharing a file name."""

from __future__ import annotations

import ast
import collections
import pathlib
import re

import rp_jupyter
from rp_jupyter import env_names, wire_rules

PACKAGE = pathlib.Path(rp_jupyter.__file__).parent
ENV_NAME = re.compile(r"\b(?:RUNPOD|RP_JUPYTER|BUCKET)_[A-Z0-9_]+\b")
#: The only pair of modules allowed to share a file name (besides ``__init__.py``).
SHARED_NAMES = {"images.py": {"formats/images.py", "local/examples/images.py"}}


def _modules() -> list[tuple[str, ast.Module]]:
    return [(str(path.relative_to(PACKAGE)), ast.parse(path.read_text()))
            for path in sorted(PACKAGE.rglob("*.py"))]


def _module_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name):
                    names.add(leaf.id)
    return names


def _docstrings(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _is_environ(node: ast.expr) -> bool:
    return ((isinstance(node, ast.Attribute) and node.attr == "environ")
            or (isinstance(node, ast.Name) and node.id == "environ"))


def _environ_keys(tree: ast.Module) -> list[ast.expr]:
    """The name argument of every ``os.environ[...]``, ``os.environ.get/pop/setdefault(...)``,
    ``os.getenv(...)`` and ``... in os.environ``."""
    keys: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _is_environ(node.value):
            keys.append(node.slice)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            if isinstance(func, ast.Attribute) and (
                    (func.attr in ("get", "pop", "setdefault") and _is_environ(func.value))
                    or func.attr == "getenv"):
                keys.append(node.args[0])
        elif isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators):
            keys.append(node.left)
    return keys


def test_no_fact_of_the_api_is_defined_outside_wire_rules():
    facts = set(wire_rules.__all__) - {"id_problem", "json_too_deep", "path_segment"}
    twice = [f"{name}: {', '.join(sorted(facts & _module_level_names(tree)))}"
             for name, tree in _modules()
             if name != "wire_rules.py" and facts & _module_level_names(tree)]
    assert not twice, "defined again outside wire_rules: " + "; ".join(twice)


def test_the_scan_finds_a_fact_defined_again_in_every_spelling():
    tree = ast.parse("RUN_RETENTION = 60\nTTL_MIN_MS: int = 1\nA, FAILED = 1, 'FAILED'\n"
                     "class RateLimit: pass\ndef f():\n    RUNSYNC_RETENTION = 1\n")
    facts = set(wire_rules.__all__)
    assert facts & _module_level_names(tree) == {"RUN_RETENTION", "TTL_MIN_MS", "FAILED",
                                                  "RateLimit"}


def test_the_status_sets_are_the_ones_the_api_documents():
    assert {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"} == wire_rules.FINAL_STATUSES
    assert {"FAILED", "TIMED_OUT"} == wire_rules.RETRYABLE_STATUSES
    assert not wire_rules.FINAL_STATUSES & wire_rules.UNFINISHED_STATUSES


def test_every_environment_variable_is_named_through_env_names():
    values = {getattr(env_names, n) for n in dir(env_names) if n.endswith("_ENV")}
    literal, elsewhere = [], []
    for name, tree in _modules():
        if name == "env_names.py":
            continue
        for key in _environ_keys(tree):
            if isinstance(key, ast.Constant):
                literal.append(f"{name}:{key.lineno} {key.value!r}")
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in docstrings):
                found = set(ENV_NAME.findall(node.value)) | (
                    {node.value} if node.value in values else set())
                elsewhere += [f"{name}:{node.lineno} {var}" for var in sorted(found)]
    assert not literal, "environment read with a literal name: " + "; ".join(literal)
    assert not elsewhere, "variable named outside env_names: " + "; ".join(elsewhere)


def test_the_scan_finds_environment_reads_in_every_spelling():
    tree = ast.parse("import os\nos.environ['A']\nos.environ.get('B')\nos.getenv('C')\n"
                     "'D' in os.environ\nos.environ.pop('E', None)\n")
    assert [k.value for k in _environ_keys(tree)] == ["A", "B", "C", "D", "E"]


def test_no_two_modules_share_a_file_name():
    by_name: dict[str, set[str]] = collections.defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        if path.name != "__init__.py":
            by_name[path.name].add(str(path.relative_to(PACKAGE)))
    shared = {name: paths for name, paths in by_name.items()
              if len(paths) > 1 and SHARED_NAMES.get(name) != paths}
    assert not shared
