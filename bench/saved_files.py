"""Saving the file behind an output's link when a job ends: a worker uploads ``--mb`` MB to
a real S3-compatible server (moto, on loopback) and returns its presigned URL, as
``rp_upload`` does.

- result: seconds from ``run()`` to ``result()`` returning, with saving on and off (saving
  runs on a thread of its own, so ``result()`` must not wait for it);
- saved: seconds from ``result()`` returning to the file being saved in the journal's folder.

Target: ``result()`` not delayed by saving (on ≈ off).  Run:
``.venv/bin/python bench/saved_files.py [--mb 20] [--runs 3]``; prints a table and writes
``bench/results/saved_files.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.s3_server
from _common import format_table, write_result

BUCKET = "bench"


def one_run(endpoint, s3, size: int) -> tuple[float, float, int]:
    config = {"accessId": s3.access_key, "accessSecret": s3.secret_key,
              "bucketName": BUCKET, "endpointUrl": s3.endpoint_url}
    start = time.perf_counter()
    job = endpoint.run({"s3Config": config, "size": size})
    job.result(timeout=300)
    returned = time.perf_counter()
    assert job.wait_files(300)
    saved = time.perf_counter()
    files = job.files
    return returned - start, saved - returned, (files[0].size or 0) if files else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = int(args.mb * 1024 * 1024)
    os.environ["RP_JUPYTER_HOME"] = tempfile.mkdtemp(prefix="rp-bench-files-")

    import rp_jupyter
    from rp_jupyter.local import LocalServer
    from tests.s3_server import s3_server
    from tests.workers import script

    rows, data = [], {}
    with s3_server() as s3, mock.patch.dict(os.environ, s3.worker_env()), \
            LocalServer() as server:
        s3.client().create_bucket(Bucket=BUCKET)
        server.add_endpoint("sdxl_s3", script("sdxl_s3"), workers=1).wait_ready(60)
        endpoint = rp_jupyter.Endpoint("sdxl_s3", base_url=server.base_url)
        for saving in (False, True):
            rp_jupyter.configure_downloads(enabled=saving, max_file_mb=args.mb * 2)
            runs = [one_run(endpoint, s3, size) for _ in range(args.runs)]
            result_s = statistics.median(r[0] for r in runs)
            saved_s = statistics.median(r[1] for r in runs) if saving else None
            saved_bytes = runs[-1][2]
            name = "on" if saving else "off"
            rows.append((name, args.mb, round(result_s * 1000),
                         None if saved_s is None else round(saved_s * 1000), saved_bytes))
            data[name] = {"result_s": result_s, "saved_after_result_s": saved_s,
                          "saved_bytes": saved_bytes, "runs": runs}
    print(format_table(["saving", "MB", "run→result ms", "result→saved ms", "bytes saved"],
                       rows))
    path = write_result("saved_files", {"mb": args.mb, "runs": args.runs, **data})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
