"""The package's public names, read once from the ``if TYPE_CHECKING:`` import block of
``rp_jupyter/__init__.py``: that block is the one export list.  Type checkers and IDEs read
it as imports; at run time :func:`exports` parses it (standard library only, no import of
the modules it names), so ``__all__``, ``dir()`` and the lazy ``__getattr__`` come from it.
"""

from __future__ import annotations

import ast
from pathlib import Path


def exports(init_file: str) -> dict[str, str]:
    """Public name -> module that defines it, from the ``TYPE_CHECKING`` block of ``init_file``."""
    tree = ast.parse(Path(init_file).read_text(encoding="utf-8"))
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    for alias in statement.names:
                        names[alias.asname or alias.name] = statement.module
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
