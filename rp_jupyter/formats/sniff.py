"""Recognising pictures cheaply: magic numbers and base64 openings, without decoding."""

from __future__ import annotations

__all__ = ["BASE64_PREFIXES", "MIN_BASE64_CHARS", "looks_like_image", "sniff_bytes"]

# base64 of the first bytes of PNG, JPEG, WebP (RIFF) and GIF files
BASE64_PREFIXES = {"iVBORw0KGgo": "png", "/9j/": "jpeg", "UklGR": "webp", "R0lGOD": "gif"}
MIN_BASE64_CHARS = 64


def sniff_bytes(head: bytes) -> str | None:
    """The picture format the first bytes of a file announce (``png``, ``jpeg``, ...)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"BM"):
        return "bmp"
    return None


def looks_like_image(text: str) -> bool:
    """A ``data:image/...`` URL, or base64 that starts like a PNG, JPEG, WebP or GIF file."""
    if text.startswith("data:image/"):
        return True
    return len(text) >= MIN_BASE64_CHARS and text.startswith(tuple(BASE64_PREFIXES))
