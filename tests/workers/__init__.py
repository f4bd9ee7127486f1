"""Stand-in worker scripts shaped like the official Runpod workers (reference/workers.md):
each is an unchanged-style ``runpod.serverless.start`` script the local endpoint serves."""

from pathlib import Path

WORKERS = Path(__file__).resolve().parent


def script(name: str) -> str:
    """The path of the stand-in worker ``name`` (``vllm``, ``vllm_proxy``, ``comfyui``, ...)."""
    return str(WORKERS / f"{name}_worker.py")
