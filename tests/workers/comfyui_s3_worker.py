"""Stand-in for worker-comfyui with ``BUCKET_ENDPOINT_URL`` set: each picture is uploaded the
way runpod-python's ``rp_upload.upload_image`` does (boto3, bucket ``%m-%y``, key
``<job id>/<name>``, a presigned GET URL that lives 7 days) and the answer is
``{"images": [{"filename", "type": "s3_url", "data": URL}]}``."""

import os
import time

import boto3
import runpod
from botocore.config import Config
from pictures import png


def upload_image(job_id, name, data):
    client = boto3.client(
        "s3", endpoint_url=os.environ["BUCKET_ENDPOINT_URL"],
        aws_access_key_id=os.environ["BUCKET_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["BUCKET_SECRET_ACCESS_KEY"],
        config=Config(signature_version="s3v4"), region_name="us-east-1")
    bucket = time.strftime("%m-%y")
    key = f"{job_id}/{name}"
    client.put_object(Bucket=bucket, Key=key, Body=data, ContentType="image/png")
    return client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=604800)


def handler(job):
    workflow = job["input"].get("workflow") or {}
    width, height = workflow.get("size", [96, 64])
    images = []
    for i in range(int(workflow.get("count", 1))):
        name = f"ComfyUI_{i:05d}_.png"
        url = upload_image(job["id"], name, png(width, height, seed=i + 3))
        images.append({"filename": name, "type": "s3_url", "data": url})
    return {"images": images}


runpod.serverless.start({"handler": handler})
