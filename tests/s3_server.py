"""A real S3-compatible server on loopback: moto's server mode in a subprocess."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from tests.waiting import wait_for

ACCESS_KEY = "AKIAEXAMPLESTANDIN01"
SECRET_KEY = "stand-in-secret-key-for-the-s3-tests"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key)

    def worker_env(self) -> dict[str, str]:
        """What a worker reads (``rp_upload``): ``BUCKET_ENDPOINT_URL`` and its keys."""
        return {"BUCKET_ENDPOINT_URL": self.endpoint_url,
                "BUCKET_ACCESS_KEY_ID": self.access_key,
                "BUCKET_SECRET_ACCESS_KEY": self.secret_key}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def s3_server() -> Iterator[S3Server]:
    """moto's server on a free loopback port; stopped (and waited for) at the end."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: process.poll() is not None or _answers(url), 60, "moto to answer")
        assert process.poll() is None, "moto's server did not start"
        yield S3Server(url)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
