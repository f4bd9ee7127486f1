"""Stand-in for worker-sdxl (handler.py): ``{"images": ["data:image/png;base64,..."],
"image_url": <the first>, "seed"}``, ``num_images`` pictures of ``width`` × ``height``."""

import runpod
from pictures import png_b64


def generate_image(job):
    job_input = job["input"]
    width, height = int(job_input.get("width", 1024)), int(job_input.get("height", 1024))
    seed = int(job_input.get("seed", 7))
    urls = [f"data:image/png;base64,{png_b64(width, height, seed + i)}"
            for i in range(int(job_input.get("num_images", 1)))]
    return {"images": urls, "image_url": urls[0], "seed": seed}


runpod.serverless.start({"handler": generate_image})
