"""Stand-in for worker-sdxl ``handler.py``: ``generate_image`` validates with the worker's
schema and answers ``{"images": [data URLs], "image_url", "seed"}``; img2img and pipeline
errors ask for a fresh worker (``refresh_worker``); ``start`` is at module level.  The
pipelines are the ``imagegen`` example's pictures instead of diffusers."""

import base64
import io
import os

import runpod
from runpod.serverless.utils.rp_validator import validate

from rp_jupyter.local.examples import imagegen
from schemas import INPUT_SCHEMA


class ModelHandler:
    def __init__(self):
        self.base = None
        self.refiner = None
        self.load_models()

    def load_models(self):
        self.base = imagegen.render
        self.refiner = imagegen.render


MODELS = ModelHandler()


def _save_and_upload_images(images, job_id):
    image_urls = []
    for image in images:
        image_data = base64.b64encode(imagegen.png_bytes(image)).decode("utf-8")
        image_urls.append(f"data:image/png;base64,{image_data}")
    return image_urls


def generate_image(job):
    job_input = job["input"]
    validated_input = validate(job_input, INPUT_SCHEMA)
    if "errors" in validated_input:
        return {"error": validated_input["errors"]}
    job_input = validated_input["validated_input"]

    starting_image = job_input["image_url"]
    if job_input["seed"] is None:
        job_input["seed"] = int.from_bytes(os.urandom(2), "big")

    try:
        if starting_image:  # img2img: only the refiner
            header, _, data = starting_image.partition(",")
            from PIL import Image

            init_image = Image.open(io.BytesIO(base64.b64decode(data or header)))
            output = [MODELS.refiner(job_input["width"], job_input["height"],
                                     f"{job_input['seed']}|refine", job_input["prompt"] or "",
                                     init_image)]
        else:
            output = [MODELS.base(job_input["width"], job_input["height"],
                                  f"{job_input['seed']}|{index}", job_input["prompt"] or "")
                      for index in range(job_input["num_images"])]
    except Exception as err:
        return {"error": f"Unexpected error: {err}", "refresh_worker": True}

    image_urls = _save_and_upload_images(output, job["id"])
    results = {"images": image_urls, "image_url": image_urls[0], "seed": job_input["seed"]}
    if starting_image:
        results["refresh_worker"] = True
    return results


runpod.serverless.start({"handler": generate_image})
