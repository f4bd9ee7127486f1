"""Stand-in for worker-sdxl given ``s3Config`` in its input (``accessId``, ``accessSecret``,
``bucketName``, ``endpointUrl``): the picture is uploaded with boto3 as ``rp_upload`` does
and the answer is ``{"images": [URL], "image_url": URL, "seed"}``; ``size`` (bytes) makes
it a file of that many bytes instead, and ``shape: "video"`` answers ``{"video_url": URL,
"cost"}``."""

import boto3
import runpod
from botocore.config import Config
from pictures import png


def handler(job):
    job_input = job["input"]
    config = job_input["s3Config"]
    client = boto3.client(
        "s3", endpoint_url=config["endpointUrl"], aws_access_key_id=config["accessId"],
        aws_secret_access_key=config["accessSecret"],
        config=Config(signature_version="s3v4"), region_name="us-east-1")
    seed = int(job_input.get("seed", 7))
    size = job_input.get("size")
    if size:
        data, key, kind = bytes(range(256)) * (int(size) // 256) + b"x" * (int(size) % 256), \
            f"{job['id']}/blob.bin", "application/octet-stream"
    else:
        data, key, kind = png(int(job_input.get("width", 80)), int(job_input.get("height", 60)),
                              seed=seed), f"{job['id']}/0.png", "image/png"
    client.put_object(Bucket=config["bucketName"], Key=key, Body=data, ContentType=kind)
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": config["bucketName"], "Key": key}, ExpiresIn=604800)
    if job_input.get("shape") == "video":  # a public video endpoint's answer
        return {"video_url": url, "cost": 0.05}
    return {"images": [url], "image_url": url, "seed": seed}


runpod.serverless.start({"handler": handler})
