"""A picture a worker uploaded to S3 (presigned URL, ``rp_upload``) stays in a notebook run
by nbclient in a real kernel after the object is deleted: the job shown again reads the
copy saved in the journal, and the saved notebook, reopened without a kernel, holds it."""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterator
from unittest import mock

import pytest
from PIL import Image

from rp_jupyter.local import LocalServer
from tests.e2e.conftest import run_and_reopen
from tests.s3_server import S3Server, s3_server
from tests.workers import script

pytestmark = pytest.mark.e2e

BUCKET = "outputs"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[S3Server, str]]:
    with s3_server() as s3, mock.patch.dict(os.environ, s3.worker_env()), \
            LocalServer() as server:
        s3.client().create_bucket(Bucket=BUCKET)
        server.add_endpoint("sdxl_s3", script("sdxl_s3"), workers=1).wait_ready(60)
        yield s3, server.base_url


def test_an_s3_picture_stays_in_the_saved_notebook_after_the_link_dies(served, tmp_path,
                                                                         monkeypatch):
    s3, base_url = served
    monkeypatch.setenv("RUNPOD_ENDPOINT_BASE_URL", base_url)
    for name, value in s3.worker_env().items():
        monkeypatch.setenv(name, value)
    body = {"prompt": "a lighthouse", "width": 72, "height": 40, "s3Config": {
        "accessId": "$BUCKET_ACCESS_KEY_ID", "accessSecret": "$BUCKET_SECRET_ACCESS_KEY",
        "bucketName": BUCKET, "endpointUrl": s3.endpoint_url}}
    run = (f"import os\nbody = {json.dumps(body)}\n"
           "body['s3Config'].update(accessId=os.environ['BUCKET_ACCESS_KEY_ID'], "
           "accessSecret=os.environ['BUCKET_SECRET_ACCESS_KEY'])\n"
           "job = rp_jupyter.Endpoint('sdxl_s3').run(body)\njob.result(timeout=60)\n"
           "job")
    delete = ("import boto3, httpx\nassert job.wait_files(30)\n"
              "url = job.result()['image_url']\n"
              "bucket, key = httpx.URL(url).path.lstrip('/').split('/', 1)\n"
              "boto3.client('s3', endpoint_url=os.environ['BUCKET_ENDPOINT_URL'], "
              "region_name='us-east-1', "
              "aws_access_key_id=os.environ['BUCKET_ACCESS_KEY_ID'], "
              "aws_secret_access_key=os.environ['BUCKET_SECRET_ACCESS_KEY'])"
              ".delete_object(Bucket=bucket, Key=key)\n"
              "print(httpx.get(url).status_code)")
    sources = ["%load_ext rp_jupyter\nimport rp_jupyter", run, delete, "job"]
    saved = run_and_reopen(sources, tmp_path, "s3.ipynb")  # reopened without a kernel
    assert saved.cells[2].outputs[0].text == "404\n"  # the link is dead
    for index in (1, 3):  # shown live, and shown again after the link died
        (output,) = [o for o in saved.cells[index].outputs if "image/png" in o.get("data", {})]
        picture = Image.open(io.BytesIO(base64.b64decode(output.data["image/png"])))
        assert picture.size == (72, 40)
    text = (tmp_path / "s3.ipynb").read_text()
    assert "X-Amz-Signature=" not in text.replace("X-Amz-Signature=***", "")
