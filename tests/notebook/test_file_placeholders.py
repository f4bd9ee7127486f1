"""Files as inputs in ``%%runpod run`` cells: ``b64`` and ``data_url`` in placeholders, and
``bytes`` or a Pillow image in a placeholder sent as base64 (never a repr)."""

from __future__ import annotations

import base64
import io

from IPython.core.error import UsageError
from PIL import Image

import rp_jupyter
from rp_jupyter.jobs.job import Job
from tests.notebook.magic_shell import total_requests
from tests.workers.pictures import png


def echo_of(run) -> dict:
    assert run.error is None, run.stderr
    assert isinstance(run.value, Job)
    return run.value.result(timeout=30)["echo"]


def test_b64_and_data_url_work_in_placeholders_without_an_import(ip, local, tmp_path):
    (tmp_path / "cat.png").write_bytes(png(6, 4))
    (tmp_path / "talk.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    ip.user_ns["folder"] = str(tmp_path)
    run = ip.run('%%runpod run echo\n'
                 '{"audio_base64": "{{ b64(folder + \'/talk.wav\') }}",\n'
                 ' "images": [{"name": "cat.png",\n'
                 '             "image": "{{ data_url(folder + \'/cat.png\') }}"}]}')
    sent = echo_of(run)
    assert base64.b64decode(sent["audio_base64"]).startswith(b"RIFF")
    image = sent["images"][0]["image"]
    assert image.startswith("data:image/png;base64,")
    assert base64.b64decode(image.split(",", 1)[1]) == png(6, 4)
    assert "b64" not in ip.user_ns and "data_url" not in ip.user_ns


def test_a_pillow_image_or_bytes_in_a_placeholder_becomes_base64(ip, local):
    ip.user_ns["picture"] = Image.new("RGB", (5, 3), "blue")
    ip.user_ns["raw"] = b"\x00\x01\x02"
    run = ip.run('%%runpod run echo\n{"image": "{{ picture }}", "data": {{ raw }}}')
    sent = echo_of(run)
    assert Image.open(io.BytesIO(base64.b64decode(sent["image"]))).size == (5, 3)
    assert sent["data"] == "AAEC"
    text = ip.run("%%runpod run echo\nDescribe {{ picture }}")
    assert echo_of(text)["prompt"].startswith("Describe iVBORw0KGgo")
    python = ip.run('%%runpod run echo --format python\n{"image": {{ raw }}, "n": 1 + 1}')
    assert echo_of(python) == {"image": "AAEC", "n": 2}


def test_a_missing_file_is_a_clear_error_and_nothing_is_sent(ip, local, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = ip.run('%%runpod run echo\n{"image": "{{ b64(\'cat.png\') }}"}')
    assert isinstance(run.error, UsageError) and "Traceback" not in run.stdout + run.stderr
    message = str(run.error)
    assert "b64('cat.png'): no such file:" in message and str(tmp_path / "cat.png") in message
    assert "check the file name, or give the file's full path" in message
    assert total_requests(local) == 0


def test_the_helpers_are_importable_from_the_package(tmp_path):
    (tmp_path / "x.png").write_bytes(png(2, 2))
    assert rp_jupyter.data_url(tmp_path / "x.png").startswith("data:image/png;base64,")
    assert base64.b64decode(rp_jupyter.b64(tmp_path / "x.png")) == png(2, 2)
