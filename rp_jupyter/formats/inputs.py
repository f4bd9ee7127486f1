"""Files as worker inputs: base64 strings and ``data:`` URLs.

Workers take pictures and audio inline: faster-whisper ``audio_base64``, ComfyUI
``images: [{"name", "image"}]``, SDXL ``image_url``.  :func:`b64` and :func:`data_url` read a
file (or take bytes or a Pillow image) and give the string to send; in a ``%%runpod run``
cell they work in placeholders without an import, and a Pillow image or ``bytes`` put in a
placeholder directly becomes base64 (:func:`as_base64`).

Example::

    {"audio_base64": "{{ b64('talk.wav') }}", "images": [{"name": "cat.png",
     "image": "{{ data_url('cat.png') }}"}]}
"""

from __future__ import annotations

import base64
import io
import mimetypes
import os
from typing import Any

from rp_jupyter.formats.sniff import sniff_bytes

__all__ = ["as_base64", "b64", "data_url"]

_AUDIO = {b"RIFF": "audio/wav", b"ID3": "audio/mpeg", b"OggS": "audio/ogg", b"fLaC": "audio/flac"}


def _is_pil(value: Any) -> bool:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "save")


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "1", "I", "I;16"):
        image = image.convert("RGBA")
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _read(source: Any, helper: str) -> tuple[bytes, str | None]:
    """``(bytes, file name)`` of a path, bytes or a Pillow image."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None
    if _is_pil(source):
        return _png(source), "image.png"
    if isinstance(source, (str, os.PathLike)):
        path = os.path.expanduser(os.fspath(source))
        if not os.path.isfile(path):
            where = os.path.abspath(path)
            reason = "is a folder, not a file" if os.path.isdir(path) else "no such file"
            raise FileNotFoundError(
                f"{helper}({os.fspath(source)!r}): {reason}: {where} "
                f"(relative paths start in {os.getcwd()})"
            )
        with open(path, "rb") as handle:
            return handle.read(), os.path.basename(path)
    raise TypeError(
        f"{helper}() takes a file path, bytes or a Pillow image, not {type(source).__name__}"
    )


def b64(source: str | os.PathLike[str] | bytes | Any) -> str:
    """The base64 text of a file, of ``bytes``, or of a Pillow image (as PNG).

    Example::

        rp_jupyter.b64("talk.wav")      # 'UklGRiQAAABXQVZF...'
    """
    data, _ = _read(source, "b64")
    return base64.b64encode(data).decode("ascii")


def data_url(source: str | os.PathLike[str] | bytes | Any, mime: str | None = None) -> str:
    """A ``data:<mime>;base64,...`` URL of a file, ``bytes`` or a Pillow image; the type
    comes from the content or the file name unless ``mime`` says.

    Example::

        rp_jupyter.data_url("cat.png")  # 'data:image/png;base64,iVBORw0KGgo...'
    """
    data, name = _read(source, "data_url")
    mime = mime or _mime(data, name)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _mime(data: bytes, name: str | None) -> str:
    picture = sniff_bytes(data[:16])
    if picture is not None:
        return f"image/{picture}"
    for magic, kind in _AUDIO.items():
        if data.startswith(magic) and (magic != b"RIFF" or data[8:12] == b"WAVE"):
            return kind
    guessed = mimetypes.guess_type(name)[0] if name else None
    return guessed or "application/octet-stream"


def as_base64(value: Any) -> str | None:
    """Base64 of ``bytes`` or a Pillow image (how a placeholder sends them); ``None`` for
    any other value."""
    if isinstance(value, (bytes, bytearray, memoryview)) or _is_pil(value):
        return b64(value)
    return None
