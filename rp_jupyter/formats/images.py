"""Pictures in worker outputs: where they are, and how to get their bytes.

Shapes recognised (reference/workers.md has the sources):

- ComfyUI ``{"images": [{"filename", "type": "base64" | "s3_url", "data"}]}`` (with
  ``errors``; ``{"status": "success_no_images", "images": []}`` when there are none), and the
  older ``{"status", "message": <base64 or URL>}``;
- SDXL ``{"images": ["data:image/png;base64,..." or URL], "image_url", "seed"}``;
- public endpoints ``{"image_url": URL, "cost": ...}``.

A picture is an :class:`ImageRef` (inline base64, a ``data:`` URL, a URL or a local file);
:func:`resolve` turns one into bytes, asking the registered resolvers first (a later
resolver may answer from a local copy of a URL) and then reading it directly.  Pillow is
imported only by :func:`open_image`.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rp_jupyter.formats.sniff import BASE64_PREFIXES, MIN_BASE64_CHARS

__all__ = [
    "ImageRef",
    "ImageSet",
    "image_ref",
    "open_image",
    "read_images",
    "register_resolver",
    "resolve",
]

FETCH_TIMEOUT = 15.0  # seconds for one URL
FETCH_MAX_BYTES = 64 * 1024 * 1024
URL_SCHEMES = ("http://", "https://", "file://")
SHAPE_NAMES = {"comfyui": "ComfyUI", "comfyui-legacy": "ComfyUI", "sdxl": "SDXL",
               "public": "public endpoint"}


@dataclass(frozen=True)
class ImageRef:
    """One picture of an output: ``kind`` is ``base64``, ``data-url``, ``url`` or ``path``;
    ``value`` holds it (or says where it is); ``name`` is the worker's file name, if any."""

    kind: str
    value: str
    name: str | None = None

    @property
    def inline(self) -> bool:
        return self.kind in ("base64", "data-url")

    def describe(self) -> str:
        """``cat.png``, or the URL, or ``inline image``."""
        if self.name:
            return self.name
        if self.kind == "url":
            return _short_url(self.value)
        return "inline image"


@dataclass
class ImageSet:
    """The pictures one output holds, and what came with them (seed, cost, errors)."""

    refs: list[ImageRef]
    shape: str
    details: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """``2 images from ComfyUI · seed 42``: one line for plain text and previews."""
        count = len(self.refs)
        noun = "no images" if count == 0 else f"{count} image{'s' if count != 1 else ''}"
        parts = [f"{noun} from {SHAPE_NAMES.get(self.shape, self.shape)}"]
        for key, value in self.details.items():
            if key == "errors":
                parts.append(f"{len(value)} error{'s' if len(value) != 1 else ''}")
            elif key == "cost":
                parts.append(f"cost ${value}")
            else:
                parts.append(f"{key} {value}")
        return " · ".join(parts)


def image_ref(value: Any, name: str | None = None) -> ImageRef | None:
    """The :class:`ImageRef` a string stands for (``None`` if it is no picture)."""
    if not isinstance(value, str):
        return None
    if value.startswith("data:image/"):
        return ImageRef("data-url", value, name)
    if value.startswith(URL_SCHEMES):
        return ImageRef("url", value, name)
    if len(value) >= MIN_BASE64_CHARS and value.startswith(tuple(BASE64_PREFIXES)):
        return ImageRef("base64", value, name)
    return None


def _unwrap(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        return value[0]
    return value


def read_images(value: Any) -> ImageSet | None:
    """The pictures in a ComfyUI, SDXL or public-endpoint output, or ``None``."""
    value = _unwrap(value)
    if not isinstance(value, dict):
        return None
    images = value.get("images")
    if isinstance(images, list):
        if images and all(isinstance(i, dict) for i in images):
            return _comfyui(value, images)
        if images and all(isinstance(i, str) for i in images):
            refs = [image_ref(i) for i in images]
            if all(refs):
                return ImageSet(list(refs), "sdxl", _details(value, "seed"))  # type: ignore[arg-type]
        if not images and value.get("status") == "success_no_images":
            return ImageSet([], "comfyui", _details(value, "errors"))
        return None
    message = value.get("message")
    if "status" in value and isinstance(message, str):
        ref = image_ref(message)
        if ref is not None:
            return ImageSet([ref], "comfyui-legacy", {})
        return None
    ref = image_ref(value.get("image_url"))
    if ref is not None:
        return ImageSet([ref], "public", _details(value, "seed", "cost"))
    return None


def _comfyui(value: dict[str, Any], images: list[dict[str, Any]]) -> ImageSet | None:
    refs = []
    for item in images:
        data, kind, name = item.get("data"), item.get("type"), item.get("filename")
        if not isinstance(data, str):
            return None
        if kind == "s3_url":
            ref: ImageRef | None = ImageRef("url", data, name)
        elif kind == "base64" and not data.startswith(("data:", *URL_SCHEMES)):
            ref = ImageRef("base64", data, name)
        else:
            ref = image_ref(data, name)
        if ref is None:
            return None
        refs.append(ref)
    return ImageSet(refs, "comfyui", _details(value, "errors"))


def _details(value: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: value[k] for k in keys if value.get(k) not in (None, "", [])}


# -- resolving a reference into bytes ----------------------------------------------------------

Resolver = Callable[[ImageRef], "bytes | None"]
_resolvers: list[Resolver] = []
_resolvers_lock = threading.Lock()


def register_resolver(resolver: Resolver) -> Callable[[], None]:
    """Ask ``resolver(ref)`` for a picture's bytes before reading it directly (it returns
    ``None`` to pass).  Returns a function that removes it again."""
    with _resolvers_lock:
        _resolvers.insert(0, resolver)

    def remove() -> None:
        with _resolvers_lock:
            if resolver in _resolvers:
                _resolvers.remove(resolver)

    return remove


def resolve(ref: ImageRef) -> bytes:
    """The encoded bytes of a picture; ``ValueError`` saying why when they cannot be had."""
    with _resolvers_lock:
        resolvers = list(_resolvers)
    for resolver in resolvers:
        data = resolver(ref)
        if data is not None:
            return data
    try:
        if ref.kind == "base64":
            return base64.b64decode(ref.value)
        if ref.kind == "data-url":
            header, _, payload = ref.value.partition(",")
            if ";base64" in header:
                return base64.b64decode(payload)
            return urllib.parse.unquote_to_bytes(payload)
        if ref.kind == "path":
            with open(os.path.expanduser(ref.value), "rb") as handle:
                return handle.read()
        return _fetch(ref.value)
    except (binascii.Error, ValueError, OSError) as exc:
        raise ValueError(f"{ref.describe()}: {exc}") from None


def _fetch(url: str) -> bytes:
    if not url.startswith(URL_SCHEMES):
        raise ValueError(f"not a URL this can read: {_short_url(url)}")
    request = urllib.request.Request(url, headers={"User-Agent": "rp_jupyter"})
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:
        data = response.read(FETCH_MAX_BYTES + 1)
    if len(data) > FETCH_MAX_BYTES:
        raise ValueError(f"larger than {FETCH_MAX_BYTES // (1024 * 1024)} MB")
    return data


def open_image(ref: ImageRef) -> Any:
    """The picture as a Pillow image (loaded, so it no longer needs its bytes)."""
    data = resolve(ref)
    try:
        image = open_picture(data)
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"{ref.describe()}: not a readable picture ({exc})") from None
    return image


def open_picture(data: bytes) -> Any:
    """Pillow's lazy open of ``data`` (the header now, the pixels on first use);
    ``ValueError`` when it is no picture, or one too large for Pillow to decode safely."""
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ValueError(f"too large to decode safely: over Pillow's limit of "
                         f"{2 * Image.MAX_IMAGE_PIXELS:,} pixels (raise PIL.Image.MAX_IMAGE_PIXELS "
                         f"to open it)") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"unreadable image: {exc}") from None


def _short_url(url: str) -> str:
    """A URL without its query (presigned URLs carry credentials-like signatures there)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
