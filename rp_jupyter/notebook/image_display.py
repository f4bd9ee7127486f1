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

from rp_jupyter.formats.sniff import looks_like_image, sniff_bytes

__all__ = [
    "EncodedImage",
    "contact_sheet",
    "encode_image",
    "encode_ref",
    "image_payload",
    "is_image",
    "thumbnail_data_url",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
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
        return "bytes" if sniff_bytes(bytes(value[:16])) else None
    if isinstance(value, str):
        if value.startswith("data:image/"):
            return "data-url"
        if looks_like_image(value):
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


def encode_ref(ref: Any) -> EncodedImage:
    """Decode a worker's picture reference (:class:`rp_jupyter.formats.ImageRef`): inline,
    a local file, or a URL fetched now.  ``ValueError`` says why it cannot be shown."""
    from rp_jupyter.formats import resolve

    return encode_image(resolve(ref))


def thumbnail_data_url(value: Any, size: int = 96) -> str:
    """A small PNG ``data:`` URL of the picture, for grids of mini-panels."""
    image = _open(encode_image(value).data)
    image.thumbnail((size, size))
    return "data:image/png;base64," + base64.b64encode(_to_png(image)).decode("ascii")


def contact_sheet(values: list[Any], *, cell: int = 512, columns: int = 4) -> bytes:
    """One PNG with the pictures side by side (for the ``image/png`` of a list of images):
    each at its own size up to ``cell`` pixels, never enlarged."""
    from PIL import Image

    pictures = []
    for value in values:
        encoded = value if isinstance(value, EncodedImage) else encode_image(value)
        picture = _open(encoded.data)
        picture.thumbnail((cell, cell))
        pictures.append(picture)
    width = max(p.size[0] for p in pictures)
    height = max(p.size[1] for p in pictures)
    columns = max(1, min(columns, len(pictures)))
    rows = (len(pictures) + columns - 1) // columns
    gap = 4
    sheet = Image.new("RGB", (columns * (width + gap) - gap, rows * (height + gap) - gap),
                      "white")
    for index, picture in enumerate(pictures):
        row, col = divmod(index, columns)
        sheet.paste(picture.convert("RGB"), (col * (width + gap), row * (height + gap)))
    return _to_png(sheet)


def _open(data: bytes) -> Any:
    from rp_jupyter.formats.images import open_picture

    return open_picture(data)  # reads the header; pixels on first use


def _to_png(image: Any) -> bytes:
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        image = image.convert("RGBA")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
