"""Stand-in for worker-comfyui 5.8.5 (handler.py): ``workflow`` is required (a dict or a JSON
string); the answer is ``{"images": [{"filename", "type": "base64", "data"}]}``, or
``{"status": "success_no_images", "images": []}``, or (``legacy``, before 5.0)
``{"status": "success", "message": <base64>}``.  While it works it reports progress with
``runpod.serverless.progress_update`` (``steps`` of ``delay`` seconds each)."""

import json
import time

import runpod
from pictures import png_b64


def handler(job):
    job_input = job["input"]
    workflow = job_input.get("workflow")
    if isinstance(workflow, str):
        try:
            workflow = json.loads(workflow)
        except ValueError:
            return {"error": "Invalid JSON format in input"}
    if workflow is None:
        return {"error": "Missing 'workflow' parameter"}
    size = workflow.get("size", [192, 192])
    steps, delay = int(workflow.get("steps", 0)), float(job_input.get("delay", 0))
    for step in range(1, steps + 1):
        runpod.serverless.progress_update(job, {"step": step, "steps": steps,
                                                "message": "sampling"})
        time.sleep(delay)
    count = int(workflow.get("count", 1))
    if count == 0:
        return {"status": "success_no_images", "images": []}
    if job_input.get("legacy"):
        return {"status": "success", "message": png_b64(*size, seed=1),
                "refresh_worker": False}
    return {"images": [{"filename": f"ComfyUI_{i + 1:05d}_.png", "type": "base64",
                        "data": png_b64(*size, seed=i + 1)} for i in range(count)]}


runpod.serverless.start({"handler": handler})
