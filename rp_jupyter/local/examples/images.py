"""``images``: streams a picture that sharpens step by step, as base64 PNG chunks.

Input (all optional): ``steps`` (default 8), ``size`` in pixels (default 256), ``seed``
(default 0; picks the picture), ``delay`` seconds between steps (default 0.1).

Each chunk is ``{"image": "<base64 PNG>", "step": i, "steps": n, "progress": i / n}``
for i = 1..n; the last chunk is the finished picture, so the aggregate's last item (and
the stream's last chunk) is the final image.
"""

from __future__ import annotations

import base64
import io
import random
import time
from collections.abc import Iterator
from typing import Any


def picture(size: int, seed: Any) -> Any:
    """The finished picture for ``seed``: a gradient sky with a few shapes."""
    return scene(size, size, random.Random(f"images|{seed}"))


def scene(width: int, height: int, rng: random.Random) -> Any:
    """A Pillow picture drawn from ``rng``: a gradient sky with three to seven shapes."""
    from PIL import Image, ImageDraw

    top = tuple(rng.randrange(256) for _ in range(3))
    bottom = tuple(rng.randrange(256) for _ in range(3))
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / max(1, height - 1)
        draw.line([(0, y), (width, y)],
                  fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    side = min(width, height)
    for _ in range(rng.randint(3, 7)):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        r = rng.randint(max(2, side // 16), max(3, side // 4))
        colour = tuple(rng.randrange(256) for _ in range(3))
        box = [x0 - r, y0 - r, x0 + r, y0 + r]
        if rng.random() < 0.5:
            draw.ellipse(box, fill=colour)
        else:
            draw.rectangle(box, fill=colour)
    return image


def png_base64(image: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def handler(job: dict[str, Any]) -> Iterator[dict[str, Any]]:
    from PIL import Image

    data = job.get("input") or {}
    steps = max(1, int(data.get("steps", 8)))
    size = max(8, min(2048, int(data.get("size", 256))))
    delay = float(data.get("delay", 0.1))
    final = picture(size, data.get("seed", 0))
    for step in range(1, steps + 1):
        if step < steps:
            side = max(1, round(size * (step / steps) ** 2))
            frame = final.resize((side, side), Image.BILINEAR).resize((size, size),
                                                                      Image.NEAREST)
        else:
            frame = final
        yield {"image": png_base64(frame), "step": step, "steps": steps,
               "progress": step / steps}
        if delay > 0 and step < steps:
            time.sleep(delay)
