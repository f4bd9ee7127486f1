"""A picture over Pillow's safe-decoding limit, from an unchanged worker script, in a real
IPython shell: the job's output says it is too large to show (no traceback), and
``job.images`` says why it cannot open it."""

from __future__ import annotations

import textwrap

import pytest
from PIL import Image

from rp_jupyter.notebook.static import static_bundle

WORKER = """
    import base64, io
    import runpod
    from PIL import Image

    def generate_image(job):
        side = job["input"]["side"]
        buffer = io.BytesIO()
        Image.new("1", (side, side)).save(buffer, "PNG")  # tiny as a file, huge as pixels
        url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        return {"images": [url], "image_url": url, "seed": 7}

    runpod.serverless.start({"handler": generate_image})
"""


def test_a_picture_too_large_to_decode_is_named_not_a_traceback(ip, tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)  # over 2,000,000 is refused
    script = tmp_path / "sdxl.py"
    script.write_text(textwrap.dedent(WORKER))
    started = ip.run(f"%runpod local {script}")
    assert started.error is None, started.stderr
    try:
        cell = ip.run('%%runpod run --wait\n{"side": 1500}')
        assert cell.error is None, cell.stderr
        job = cell.value
        job.result(timeout=60)
        bundle = static_bundle(job)
        assert "Traceback" not in cell.stderr
        assert "1 image from SDXL · seed 7" in bundle["text/plain"]
        assert "too large to decode safely: over Pillow's limit of 2,000,000 pixels" \
            in bundle["text/plain"]
        assert "image/png" not in bundle
        with pytest.raises(ValueError, match="too large to decode safely"):
            job.images  # noqa: B018 - the property is what is tested
    finally:
        ip.run("%runpod local --stop")
