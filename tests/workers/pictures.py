"""Deterministic pictures for the stand-in image workers."""

from __future__ import annotations

import base64
import io

from PIL import Image, ImageDraw


def png(width: int, height: int, seed: int = 0) -> bytes:
    """A ``width`` × ``height`` PNG: a colour from ``seed`` with a diagonal stripe."""
    colour = ((seed * 67) % 256, (seed * 131 + 80) % 256, (seed * 29 + 160) % 256)
    image = Image.new("RGB", (width, height), colour)
    ImageDraw.Draw(image).line((0, 0, width, height), fill=(255, 255, 255), width=3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_b64(width: int, height: int, seed: int = 0) -> str:
    return base64.b64encode(png(width, height, seed)).decode("ascii")
