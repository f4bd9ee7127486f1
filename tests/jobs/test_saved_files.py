"""Files behind an output's links (presigned S3 URLs from ``rp_upload``, public endpoints'
result URLs) are saved into the journal when the job ends, and outlive the link: stand-in
workers upload with boto3 to a real S3-compatible server (moto) on loopback."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import ClassVar
from unittest import mock

import httpx
import pytest

import rp_jupyter
from rp_jupyter.jobs import downloads
from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.local import LocalServer
from tests.s3_server import S3Server, s3_server
from tests.waiting import wait_for
from tests.workers import script
from tests.workers.pictures import png

BUCKET = "outputs"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        client = server.client()
        client.create_bucket(Bucket=BUCKET)
        client.create_bucket(Bucket=time.strftime("%m-%y"))
        yield server


@pytest.fixture(scope="module")
def workers(s3) -> Iterator[LocalServer]:
    with mock.patch.dict(os.environ, s3.worker_env()), LocalServer() as server:
        for name in ("comfyui_s3", "sdxl_s3", "public_image"):
            server.add_endpoint(name, script(name), workers=1)
        for handle in server.endpoints.values():
            handle.wait_ready(60)
        yield server


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    yield
    downloads._configured.clear()


def sdxl(workers, s3, **extra) -> rp_jupyter.Job:
    config = {"accessId": s3.access_key, "accessSecret": s3.secret_key,
              "bucketName": BUCKET, "endpointUrl": s3.endpoint_url}
    job = rp_jupyter.Endpoint("sdxl_s3", base_url=workers.base_url).run(
        {"prompt": "a lighthouse", "s3Config": config, **extra})
    job.result(timeout=60)
    return job


def delete_object(s3, url: str) -> None:
    bucket, key = httpx.URL(url).path.lstrip("/").split("/", 1)
    s3.client().delete_object(Bucket=bucket, Key=key)
    assert httpx.get(url).status_code == 404  # the link is dead


def test_a_comfyui_s3_picture_is_saved_and_outlives_its_link(workers, s3):
    job = rp_jupyter.Endpoint("comfyui_s3", base_url=workers.base_url).run(
        {"workflow": {"size": [96, 64], "count": 2}})
    output = job.result(timeout=60)
    urls = [image["data"] for image in output["images"]]
    assert all("X-Amz-Signature=" in url for url in urls)
    files = job.files
    assert [f.json_path for f in files] == ["$.images[0].data", "$.images[1].data"]
    assert all(f.saved and f.content_type == "image/png" for f in files)
    assert files[0].bytes() == png(96, 64, seed=3) and files[1].image().size == (96, 64)
    for url in urls:
        delete_object(s3, url)
    assert [image.size for image in job.images] == [(96, 64), (96, 64)]  # the saved copies


def test_saved_files_are_found_from_a_new_process_after_the_link_dies(workers, s3, rp_home):
    job = sdxl(workers, s3, width=40, height=30)
    assert job.wait_files(30)
    delete_object(s3, job.result()["image_url"])
    JobJournal.open().flush()
    code = ("import rp_jupyter, sys\n"
            "from rp_jupyter.jobs.journal import JobJournal\n"
            "from rp_jupyter.jobs.runtime import job_from_record\n"
            f"output = rp_jupyter.result({job.id!r})\n"
            f"job = job_from_record(JobJournal.open().find({job.id!r}), None)\n"
            "print([f.json_path for f in job.files], job.images[0].size)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['$.images[0]'] (40, 30)"


def test_the_signature_is_masked_in_reprs_and_journal_rows(workers, s3):
    job = sdxl(workers, s3)
    url = job.result()["image_url"]
    signature = httpx.URL(url).params["X-Amz-Signature"]
    files = job.files
    assert files and all(signature not in f.url and "X-Amz-Signature=***" in f.url
                         for f in files)
    assert signature not in repr(files) and signature not in repr(job)
    rows = JobJournal.open().read("SELECT * FROM output_files WHERE key = ?",
                                  (job.journal_key,))
    assert rows and all(signature not in json.dumps(tuple(row)) for row in rows)
    assert s3.access_key not in json.dumps([tuple(row) for row in rows])


def test_s3_credentials_in_a_workers_input_reach_the_worker_but_never_the_journal(workers, s3):
    job = sdxl(workers, s3, width=24, height=16)  # the worker uploaded with them
    assert job.images[0].size == (24, 16)
    journal = JobJournal.open()
    assert journal.find(job.id).request["input"]["s3Config"]["accessSecret"] == "********"
    journal.flush()
    stored = b"".join(p.read_bytes() for p in journal.path.parent.glob("journal.sqlite3*"))
    assert s3.secret_key.encode() not in stored
    assert s3.secret_key not in repr(job) and s3.secret_key not in repr(job.input)


def test_a_file_over_the_size_cap_is_not_saved_and_says_why(workers, s3):
    rp_jupyter.configure_downloads(max_file_mb=0.5)
    job = sdxl(workers, s3, size=700_000)
    assert job.result()["image_url"]
    files = job.files
    assert files and not any(f.saved for f in files)
    assert "larger than the cap" in files[0].error
    with pytest.raises(FileNotFoundError, match="not saved"):
        files[0].bytes()
    assert not list((JobJournal.open().path.parent / "files").glob("*.bin"))


def test_a_file_under_the_cap_is_saved_whole(workers, s3):
    rp_jupyter.configure_downloads(max_file_mb=1)
    job = sdxl(workers, s3, size=700_000)
    (saved, *_) = job.files
    assert saved.size == 700_000 and saved.bytes() == httpx.get(job.result()["image_url"]).content


def test_saving_can_be_turned_off(workers, s3, monkeypatch):
    monkeypatch.setenv("RP_JUPYTER_SAVE_OUTPUTS", "0")
    job = sdxl(workers, s3)
    assert job.result()["image_url"] and job.files == []


def test_excluded_hosts_are_not_fetched(workers, s3, monkeypatch):
    monkeypatch.setenv("RP_JUPYTER_SAVE_EXCLUDE_HOSTS", "example.org, 127.0.0.1")
    job = sdxl(workers, s3)
    assert job.files and all(f.error == "host excluded" and f.path is None
                             for f in job.files)


def test_bad_settings_say_what_to_fix():
    with pytest.raises(TypeError, match=r"unknown setting.*max_mb.*known: "):
        rp_jupyter.configure_downloads(max_mb=3)
    with pytest.raises(ValueError, match="max_file_mb must be above 0"):
        rp_jupyter.configure_downloads(max_file_mb=0)


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []
    body = png(50, 40, seed=9)

    def do_GET(self):
        type(self).seen.append(dict(self.headers))
        if self.path.startswith("/broken"):
            self.send_response(500)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_no_runpod_key_is_sent_to_the_file_host(workers, recorder):
    endpoint = rp_jupyter.Endpoint("public_image", base_url=workers.base_url,
                                   api_key="rpa_SECRETKEYNEVERSENT")
    job = endpoint.run({"url": f"{recorder}/flux.png?sig=abc123secret"})
    job.result(timeout=60)
    (saved,) = job.files
    assert saved.bytes() == _Recorder.body and saved.url.endswith("sig=***")
    assert _Recorder.seen
    for headers in _Recorder.seen:
        assert "rpa_SECRETKEYNEVERSENT" not in json.dumps(headers)
        assert "authorization" not in {name.lower() for name in headers}


def test_a_failing_download_keeps_the_result_and_journals_the_error(workers, recorder):
    url = f"{recorder}/broken.png"
    job = rp_jupyter.Endpoint("public_image", base_url=workers.base_url).run({"url": url})
    assert job.result(timeout=60) == {"image_url": url, "cost": 0.0024}
    (saved,) = job.files
    assert not saved.saved and saved.error == "HTTP 500"
    row = wait_for(lambda: JobJournal.open().read(
        "SELECT error FROM output_files WHERE key = ?", (job.journal_key,)), 10, "the row")
    assert row[0]["error"] == "HTTP 500"


def test_an_unrecognised_output_with_a_signed_url_is_previewed_masked(workers, s3):
    job = sdxl(workers, s3, size=3000, shape="video")
    url = job.result()["video_url"]
    signature = httpx.URL(url).params["X-Amz-Signature"]
    JobJournal.open().flush()
    preview = JobJournal.open().get(job.journal_key).output_preview
    assert preview.startswith('{"video_url": "http') and "X-Amz-Credential=***" in preview
    assert signature not in preview
    assert signature not in repr(rp_jupyter.jobs()) and signature not in repr(job)
    (saved,) = job.files
    assert saved.json_path == "$.video_url" and saved.size == 3000
