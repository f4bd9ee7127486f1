"""Embeddings (infinity, OpenAI): the vectors, and a summary instead of thousands of numbers.

Shape: ``{"object": "list", "data": [{"object": "embedding", "embedding": [...], "index": 0}],
"model", "usage"}``, also wrapped in a one-element list (the OpenAI route).  A vector sent
as base64 (``encoding_format: "base64"``) is decoded from little-endian float32.

Example::

    e = read_embeddings({"object": "list", "model": "bge", "data": [
        {"embedding": [0.1, 0.2, 0.3], "index": 0}]})
    e.summary()       # '1 embedding × 3 dimensions · model bge'
"""

from __future__ import annotations

import array
import base64
import binascii
import sys
from dataclasses import dataclass
from typing import Any

from rp_jupyter.formats.replies import Usage

__all__ = ["Embeddings", "read_embeddings"]


@dataclass
class Embeddings:
    """The vectors of an embeddings answer, in ``index`` order."""

    vectors: list[list[float]]
    model: str | None = None
    usage: Usage | None = None

    @property
    def count(self) -> int:
        return len(self.vectors)

    @property
    def dimensions(self) -> int:
        return len(self.vectors[0]) if self.vectors else 0

    def summary(self) -> str:
        parts = [f"{self.count} embedding{'s' if self.count != 1 else ''} × "
                 f"{self.dimensions} dimensions"]
        if self.model:
            parts.append(f"model {self.model}")
        if self.usage is not None and self.usage.input is not None:
            parts.append(f"{self.usage.input:,} tokens")
        return " · ".join(parts)

    def as_array(self) -> Any:
        """The vectors as a numpy array when numpy is installed, else as lists."""
        try:
            import numpy
        except ImportError:
            return [list(v) for v in self.vectors]
        return numpy.asarray(self.vectors, dtype=float)


def _vector(value: Any) -> list[float] | None:
    if isinstance(value, list):
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
            return [float(x) for x in value]
        return None
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) % 4:
            return None
        floats = array.array("f")
        floats.frombytes(raw)
        if sys.byteorder != "little":
            floats.byteswap()
        return floats.tolist()
    return None


def read_embeddings(value: Any) -> Embeddings | None:
    """The embeddings in an output, or ``None``."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        value = value[0]
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        return None
    items = value["data"]
    if not items or value.get("object") not in ("list", None):
        return None
    rows = []
    for position, item in enumerate(items):
        if not isinstance(item, dict) or "embedding" not in item:
            return None
        vector = _vector(item["embedding"])
        if vector is None:
            return None
        index = item.get("index", position)
        rows.append((index if isinstance(index, int) else position, vector))
    rows.sort(key=lambda row: row[0])
    model = value.get("model")
    return Embeddings([v for _, v in rows], model if isinstance(model, str) else None,
                      Usage.parse(value.get("usage")))
