"""Images in outputs and chunks: recognise them cheaply, decode them with Pillow only when
they are shown.

An image may arrive as raw bytes, a base64 string, a ``data:image/...`` URL, a local file
path, a Pillow image, or a dict with an ``"image"`` key holding any of those.  Recognising
one reads a few bytes (magic numbers, base64 prefixes); Pillow is imported only to convert,
measure or shrink a picture.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EncodedImage",
    "contact_sheet",
    "encode_image",
    "image_payload",
    "is_image",
    "thumbnail_data_url",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
# base64 of the first bytes of PNG, JPEG, WebP (RIFF) and GIF files
BASE64_PREFIXES = {"iVBORw0KGgo": "png", "/9j/": "jpeg", "UklGR": "webp", "R0lGOD": "gif"}
MIN_BASE64_CHARS = 64
WEB_FORMATS = ("png", "jpeg", "webp", "gif")


@dataclass(frozen=True)
class EncodedImage:
    """An encoded picture: its bytes, format (``png``, ``jpeg``, ...) and size in pixels."""

    data: bytes
    format: str
    width: int
    height: int

    @property
    def mime(self) -> str:
        return f"image/{self.format}"

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    def png(self) -> bytes:
        """The picture as PNG bytes (converted with Pillow when it is another format)."""
        if self.format == "png":
            return self.data
        return _to_png(_open(self.data))

    def describe(self) -> str:
        return f"{self.width}×{self.height} {self.format.upper()}"


def image_payload(value: Any) -> Any:
    """The part of ``value`` that holds the picture (``value["image"]`` for a dict)."""
    if isinstance(value, dict) and "image" in value:
        return value["image"]
    return value


def is_image(value: Any) -> bool:
    """True when ``value`` looks like a picture (checked without decoding it)."""
    return _source_kind(image_payload(value)) is not None


def _source_kind(value: Any) -> str | None:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "bytes" if _sniff(bytes(value[:16])) else None
    if isinstance(value, str):
        if value.startswith("data:image/"):
            return "data-url"
        if len(value) >= MIN_BASE64_CHARS and value.startswith(tuple(BASE64_PREFIXES)):
            return "base64"
        if (
            len(value) < 4096
            and value.lower().endswith(IMAGE_EXTENSIONS)
            and "\n" not in value
            and os.path.isfile(os.path.expanduser(value))
        ):
            return "path"
        return None
    if type(value).__module__.startswith("PIL.") and hasattr(value, "save"):
        return "pil"
    return None


def _sniff(head: bytes) -> str | None:
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


def _raw_bytes(value: Any, kind: str) -> bytes:
    if kind == "bytes":
        return bytes(value)
    if kind == "data-url":
        header, _, payload = value.partition(",")
        if ";base64" in header:
            return base64.b64decode(payload)
        from urllib.parse import unquote_to_bytes

        return unquote_to_bytes(payload)
    if kind == "base64":
        return base64.b64decode(value)
    with open(os.path.expanduser(value), "rb") as handle:
        return handle.read()


def encode_image(value: Any) -> EncodedImage:
    """Decode ``value`` (any of the forms in the module docstring) into an
    :class:`EncodedImage`; formats a browser cannot show are converted to PNG.

    Raises ``ValueError`` when it is not a readable picture.
    """
    value = image_payload(value)
    kind = _source_kind(value)
    if kind is None:
        raise ValueError("not an image")
    if kind == "pil":
        data = _to_png(value)
        return EncodedImage(data, "png", *value.size)
    try:
        data = _raw_bytes(value, kind)
    except (binascii.Error, ValueError, OSError) as exc:
        raise ValueError(f"unreadable image: {exc}") from None
    image = _open(data)
    fmt = (image.format or "").lower()
    if fmt not in WEB_FORMATS:
        return EncodedImage(_to_png(image), "png", *image.size)
    return EncodedImage(data, fmt, *image.size)


def thumbnail_data_url(value: Any, size: int = 96) -> str:
    """A small PNG ``data:`` URL of the picture, for grids of mini-panels."""
    image = _open(encode_image(value).data)
    image.thumbnail((size, size))
    return "data:image/png;base64," + base64.b64encode(_to_png(image)).decode("ascii")


def contact_sheet(values: list[Any], *, cell: int = 192, columns: int = 4) -> bytes:
    """One PNG with the pictures side by side (for the ``image/png`` of a list of images)."""
    from PIL import Image

    pictures = []
    for value in values:
        picture = _open(encode_image(value).data)
        picture.thumbnail((cell, cell))
        pictures.append(picture)
    columns = max(1, min(columns, len(pictures)))
    rows = (len(pictures) + columns - 1) // columns
    gap = 4
    sheet = Image.new("RGB", (columns * (cell + gap) - gap, rows * (cell + gap) - gap), "white")
    for index, picture in enumerate(pictures):
        row, col = divmod(index, columns)
        sheet.paste(picture.convert("RGB"), (col * (cell + gap), row * (cell + gap)))
    return _to_png(sheet)


def _open(data: bytes) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))  # reads the header; pixels on first use
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"unreadable image: {exc}") from None
    return image


def _to_png(image: Any) -> bytes:
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        image = image.convert("RGBA")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
