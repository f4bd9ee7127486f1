"""``imagegen``: a CPU stand-in for image-generation workers: small Pillow pictures in the
output shapes of worker-comfyui and worker-sdxl, with progress updates while "sampling".

ComfyUI style (an input with ``workflow``, the API-format graph or that graph as a JSON
string; optional ``images: [{"name", "image"}]`` uploads): the answer is
``{"images": [{"filename": "ComfyUI_00001_.png", "type": "base64", "data": ...}]}``, or
``{"status": "success_no_images", "images": []}`` when the graph has no ``SaveImage``
node.  Size, batch, seed, steps and prompt come from the graph's ``EmptyLatentImage``,
``KSampler`` and ``CLIPTextEncode`` nodes.

SDXL style (no ``workflow``): ``prompt``, ``negative_prompt``, ``width`` / ``height``
(default 512 here; 1024 on the worker), ``seed`` (default: derived from the prompt),
``num_inference_steps`` (25), ``num_images`` (1 or 2), ``image_url`` (img2img: a data URL,
plain base64 or an http(s) URL; as on the worker, the reply then asks for a fresh
worker).  The answer is ``{"images": ["data:image/png;base64,..."], "image_url": <the
first>, "seed": seed}``.

Each sampling step calls ``runpod.serverless.progress_update`` when runpod-python is
importable (ComfyUI style ``{"step", "steps", "progress"}``, SDXL style ``"40%"``), so
``/status`` shows the progress; ``step_delay`` is the seconds per step (default 0.05; 0
for tests).  ``refresh_worker: true`` asks for a fresh worker after the job.

Example: ``{"prompt": "a lighthouse", "width": 64, "height": 64, "step_delay": 0}``.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import random
import time
import urllib.request
from typing import Any

from rp_jupyter.local.examples.images import scene

DEFAULT_SIZE = 512
MAX_SIZE = 2048
DEFAULT_STEP_DELAY = 0.05
_runpod: Any = None


class InputError(Exception):
    """The input cannot be used; the message is the job's error."""


def handler(job: dict[str, Any]) -> dict[str, Any]:
    data = job.get("input") or {}
    try:
        result = _comfyui(job, data) if "workflow" in data else _sdxl(job, data)
    except InputError as err:
        return {"error": str(err)}
    if data.get("refresh_worker"):
        result["refresh_worker"] = True
    return result


# -- pictures ----------------------------------------------------------------------------


def render(width: int, height: int, seed: Any, prompt: str = "", base: Any = None) -> Any:
    """A Pillow picture for ``seed`` and ``prompt``: a gradient sky with a few shapes
    (blended over ``base`` for img2img)."""
    image = scene(width, height, random.Random(f"imagegen|{seed}|{prompt}"))
    if base is not None:
        from PIL import Image

        image = Image.blend(base.convert("RGB").resize((width, height)), image, 0.5)
    return image


def png_bytes(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _progress(job: dict[str, Any], value: Any) -> None:
    """``runpod.serverless.progress_update`` when runpod-python is importable."""
    global _runpod
    if _runpod is None:
        try:
            import runpod.serverless as serverless

            _runpod = serverless
        except ImportError:
            _runpod = False
    if _runpod:
        _runpod.progress_update(job, value)


def _sample(job: dict[str, Any], steps: int, delay: float, style: str) -> None:
    """Pretend to denoise: one pause and one progress update per step."""
    for step in range(1, steps + 1):
        if delay > 0:
            time.sleep(delay)
        if style == "comfyui":
            _progress(job, {"step": step, "steps": steps, "progress": round(step / steps, 4)})
        else:
            _progress(job, f"{round(100 * step / steps)}%")


def _int(data: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"{key} must be an integer from {low} to {high}, got {value!r}")
    return value


def _delay(data: dict[str, Any]) -> float:
    value = data.get("step_delay", DEFAULT_STEP_DELAY)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 10:
        raise InputError(f"step_delay must be a number of seconds from 0 to 10, got {value!r}")
    return float(value)


# -- ComfyUI style -------------------------------------------------------------------------


def _nodes(workflow: dict[str, Any], *kinds: str) -> list[dict[str, Any]]:
    return [node.get("inputs") or {} for node in workflow.values()
            if isinstance(node, dict) and node.get("class_type") in kinds]


def _literal(inputs: dict[str, Any], key: str, default: Any) -> Any:
    value = inputs.get(key, default)
    return default if isinstance(value, list) else value  # a list is a link to another node


def _comfyui(job: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    workflow = data.get("workflow")
    if isinstance(workflow, str):
        try:
            workflow = json.loads(workflow)
        except ValueError:
            raise InputError("Invalid JSON format in workflow") from None
    if not isinstance(workflow, dict):
        raise InputError("Missing 'workflow' parameter" if workflow is None else
                         "'workflow' must be a ComfyUI API-format graph (a JSON object)")
    uploads = data.get("images")
    if uploads is not None:
        if not isinstance(uploads, list) or not all(
                isinstance(i, dict) and "name" in i and "image" in i for i in uploads):
            raise InputError("'images' must be a list of objects with 'name' and 'image' keys")
        for upload in uploads:
            _decode_image(str(upload["image"]), f"image {upload['name']!r}")
    latent = (_nodes(workflow, "EmptyLatentImage") or [{}])[0]
    sampler = (_nodes(workflow, "KSampler", "KSamplerAdvanced") or [{}])[0]
    texts = [_literal(n, "text", "") for n in _nodes(workflow, "CLIPTextEncode")]
    width = _int({"width": _literal(latent, "width", 256)}, "width", 256, 8, MAX_SIZE)
    height = _int({"height": _literal(latent, "height", 256)}, "height", 256, 8, MAX_SIZE)
    batch = _int({"batch_size": _literal(latent, "batch_size", 1)}, "batch_size", 1, 1, 8)
    seed = _literal(sampler, "seed", _literal(sampler, "noise_seed", 0))
    steps = _int({"steps": _literal(sampler, "steps", 20)}, "steps", 20, 1, 200)
    _sample(job, steps, _delay(data), "comfyui")
    saves = _nodes(workflow, "SaveImage")
    if not saves:
        return {"status": "success_no_images", "images": []}
    images, counter = [], 1
    for save in saves:
        prefix = str(_literal(save, "filename_prefix", "ComfyUI"))
        for index in range(batch):
            picture = render(width, height, f"{seed}|{index}", texts[0] if texts else "")
            images.append({"filename": f"{prefix}_{counter:05d}_.png", "type": "base64",
                           "data": base64.b64encode(png_bytes(picture)).decode("ascii")})
            counter += 1
    return {"images": images}


# -- SDXL style ----------------------------------------------------------------------------


def _decode_image(text: str, what: str) -> Any:
    """A Pillow image from a data URL or plain base64."""
    from PIL import Image

    raw = text.split(",", 1)[1] if text.startswith("data:") and "," in text else text
    try:
        return Image.open(io.BytesIO(base64.b64decode(raw, validate=True))).copy()
    except (binascii.Error, ValueError, OSError):
        raise InputError(f"{what} is not a base64 image or data URL") from None


def _load_image(url: str) -> Any:
    from PIL import Image

    if url.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return Image.open(io.BytesIO(response.read())).copy()
        except (OSError, ValueError) as err:
            raise InputError(f"cannot load image_url {url!r}: {err}") from None
    return _decode_image(url, "image_url")


def _sdxl(job: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    prompt = data.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise InputError("prompt must be a string")
    width = _int(data, "width", DEFAULT_SIZE, 8, MAX_SIZE)
    height = _int(data, "height", DEFAULT_SIZE, 8, MAX_SIZE)
    count = _int(data, "num_images", 1, 1, 2)
    steps = _int(data, "num_inference_steps", 25, 1, 200)
    seed = data.get("seed")
    if seed is None:
        seed = random.Random(f"seed|{prompt}").randrange(65536)
    elif isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"seed must be an integer, got {seed!r}")
    image_url = data.get("image_url")
    base = _load_image(image_url) if image_url else None
    _sample(job, steps, _delay(data), "sdxl")
    urls = []
    for index in range(count):
        salt = "|refine" if base is not None else ""
        picture = render(width, height, f"{seed}|{index}{salt}", prompt or "", base)
        urls.append("data:image/png;base64," + base64.b64encode(png_bytes(picture)).decode())
    result: dict[str, Any] = {"images": urls, "image_url": urls[0], "seed": seed}
    if image_url:
        result["refresh_worker"] = True
    return result


if __name__ == "__main__":  # as a runpod-python worker: python -m <this module>
    import runpod

    runpod.serverless.start({"handler": handler})
