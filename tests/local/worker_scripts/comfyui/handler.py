"""Stand-in for worker-comfyui 5.x ``handler.py``: the same input checks and output shape;
the graph is "executed" by the ``imagegen`` example instead of a ComfyUI server."""

import base64
import json
import os

import runpod

from rp_jupyter.local.examples import imagegen

# Enforce a clean state after each job is done
REFRESH_WORKER = os.environ.get("REFRESH_WORKER", "false").lower() == "true"


def validate_input(job_input):
    """(validated data, error message), as the worker's ``validate_input``."""
    if job_input is None:
        return None, "Please provide input"
    if isinstance(job_input, str):
        try:
            job_input = json.loads(job_input)
        except json.JSONDecodeError:
            return None, "Invalid JSON format in input"
    workflow = job_input.get("workflow")
    if workflow is None:
        return None, "Missing 'workflow' parameter"
    images = job_input.get("images")
    if images is not None:
        if not isinstance(images, list) or not all(
            "name" in image and "image" in image for image in images
        ):
            return None, "'images' must be a list of objects with 'name' and 'image' keys"
    return {"workflow": workflow, "images": images,
            "comfy_org_api_key": job_input.get("comfy_org_api_key")}, None


def handler(job):
    job_input = job["input"]
    validated_data, error_message = validate_input(job_input)
    if error_message:
        return {"error": error_message}
    workflow = validated_data["workflow"]
    if isinstance(workflow, str):
        workflow = json.loads(workflow)

    output_data = []
    errors = []
    inputs = {node.get("class_type"): node.get("inputs", {}) for node in workflow.values()}
    latent = inputs.get("EmptyLatentImage", {})
    sampler = inputs.get("KSampler", {})
    prompt = inputs.get("CLIPTextEncode", {}).get("text", "")
    width, height = latent.get("width", 512), latent.get("height", 512)
    counter = 1
    for node_id, node in workflow.items():
        if node.get("class_type") != "SaveImage":
            continue
        prefix = node.get("inputs", {}).get("filename_prefix", "ComfyUI")
        for index in range(latent.get("batch_size", 1)):
            picture = imagegen.render(width, height, f"{sampler.get('seed', 0)}|{index}", prompt)
            image_bytes = imagegen.png_bytes(picture)
            if not image_bytes:
                errors.append(f"Failed to fetch image data for node {node_id}")
                continue
            output_data.append({"filename": f"{prefix}_{counter:05d}_.png", "type": "base64",
                                "data": base64.b64encode(image_bytes).decode("utf-8")})
            counter += 1

    final_result = {}
    if output_data:
        final_result["images"] = output_data
    if errors:
        final_result["errors"] = errors
    if not output_data and errors:
        return {"error": "Job processing failed", "details": errors}
    if not output_data and not errors:
        final_result["status"] = "success_no_images"
        final_result["images"] = []
    if REFRESH_WORKER:
        final_result["refresh_worker"] = True
    return final_result


if __name__ == "__main__":
    print("worker-comfyui - Starting handler...")
    runpod.serverless.start({"handler": handler})
