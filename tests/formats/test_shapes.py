"""Pictures, transcripts, embeddings and progress, as the official workers give them."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from rp_jupyter import formats
from rp_jupyter.formats import (
    ImageRef,
    read,
    read_embeddings,
    read_images,
    read_progress,
    read_transcript,
)
from tests.workers import file_site
from tests.workers.pictures import png, png_b64
from tests.workers.subtitles import format_segments

SEGMENTS = [{"id": 0, "start": 0.0, "end": 2.5, "text": " Hello there."},
            {"id": 1, "start": 2.5, "end": 3661.25, "text": " A long --> pause."}]


def test_comfyui_images_with_their_file_names_and_errors():
    output = {"images": [{"filename": "a.png", "type": "base64", "data": png_b64(8, 6)},
                         {"filename": "b.png", "type": "s3_url", "data": "https://s3/b.png?sig=1"}],
              "errors": ["node 9 warned"]}
    found = read_images(output)
    assert found.shape == "comfyui" and [r.name for r in found.refs] == ["a.png", "b.png"]
    assert [r.kind for r in found.refs] == ["base64", "url"]
    assert found.summary() == "2 images from ComfyUI · 1 error"
    assert found.refs[1].describe() == "b.png"
    assert read_images({"status": "success_no_images", "images": []}).refs == []
    legacy = read_images({"status": "success", "message": png_b64(4, 4)})
    assert legacy.shape == "comfyui-legacy" and legacy.refs[0].kind == "base64"
    assert read_images({"status": "error", "message": "out of memory"}) is None


def test_sdxl_and_public_endpoint_pictures():
    url = f"data:image/png;base64,{png_b64(8, 8)}"
    sdxl = read_images({"images": [url, url], "image_url": url, "seed": 42})
    assert sdxl.shape == "sdxl" and len(sdxl.refs) == 2 and sdxl.details == {"seed": 42}
    public = read_images([{"image_url": "https://cdn/x.webp", "cost": 0.0024}])
    assert public.shape == "public" and public.summary() == (
        "1 image from public endpoint · cost $0.0024")
    assert read_images({"images": ["not a picture"]}) is None


def test_a_reference_resolves_inline_from_a_url_or_through_a_registered_resolver(tmp_path):
    data = png(5, 3)
    (tmp_path / "x.png").write_bytes(data)

    with file_site(tmp_path) as base:
        url = f"{base}/x.png"
        assert formats.resolve(ImageRef("url", url)) == data
        assert formats.open_image(ImageRef("url", url)).size == (5, 3)
        with pytest.raises(ValueError, match=r"missing\.png"):
            formats.resolve(ImageRef("url", url.replace("x.png", "missing.png")))
        remove = formats.register_resolver(
            lambda ref: png(9, 9) if ref.value.endswith("/gone.png") else None)
        try:
            assert formats.open_image(ImageRef("url", url.replace("x", "gone"))).size == (9, 9)
        finally:
            remove()
    assert formats.resolve(ImageRef("base64", base64.b64encode(data).decode())) == data
    assert formats.resolve(ImageRef("path", str(tmp_path / "x.png"))) == data


@pytest.mark.parametrize("kind", ["srt", "vtt"])
def test_subtitles_parse_back_into_timed_lines(kind):
    found = read_transcript({"segments": SEGMENTS, "detected_language": "en", "model": "base",
                             "transcription": format_segments(kind, SEGMENTS),
                             "translation": None, "device": "cpu"})
    assert found.format == kind
    assert [(c.start, c.end, c.text) for c in found.cues] == [
        (0.0, 2.5, "Hello there."), (2.5, 3661.25, "A long -> pause.")]
    assert found.subtitle_lines() == ["00:00.000 → 00:02.500  Hello there.",
                                      "00:02.500 → 01:01:01.250  A long -> pause."]
    assert found.plain_text == "Hello there. A long -> pause."
    assert found.summary() == (
        f"transcript · en · 2 segments · 3661.2 s · {kind.upper()} · model base")


def test_plain_transcripts_keep_their_text_and_take_cues_from_the_segments():
    found = read_transcript([{"segments": SEGMENTS, "detected_language": "fr",
                              "transcription": format_segments("formatted_text", SEGMENTS)}])
    assert found.format == "text" and found.text == "Hello there.\nA long --> pause."
    assert [c.text for c in found.cues] == ["Hello there.", "A long --> pause."]
    assert read_transcript({"transcription": "x"}) is None


def test_embeddings_summary_and_vectors():
    output = {"object": "list", "model": "bge", "usage": {"prompt_tokens": 12, "total_tokens": 12},
              "data": [{"object": "embedding", "embedding": [0.5, 0.25], "index": 1},
                       {"object": "embedding", "embedding": [1, 2], "index": 0}]}
    found = read_embeddings(output)
    assert found.vectors == [[1.0, 2.0], [0.5, 0.25]]  # in index order
    assert found.summary() == "2 embeddings × 2 dimensions · model bge · 12 tokens"
    assert found.as_array().shape == (2, 2)
    packed = base64.b64encode(
        __import__("array").array("f", [0.5, -1.0, 2.0]).tobytes()).decode()
    assert read_embeddings([{"object": "list", "data": [{"embedding": packed}]}]).vectors == [
        [0.5, -1.0, 2.0]]
    assert isinstance(read(output), formats.Embeddings)


def test_progress_from_numbers_strings_and_dicts():
    assert read_progress(0.25) == formats.Progress(0.25, "25%")
    assert read_progress(40) == formats.Progress(0.4, "40%")
    assert read_progress("45%") == formats.Progress(0.45, "45%")
    assert read_progress("3/8") == formats.Progress(0.375, "3/8")
    assert read_progress({"step": 3, "steps": 8, "message": "denoising"}) == formats.Progress(
        0.375, "3/8", "denoising")
    assert read_progress({"percent": 5}) == formats.Progress(0.05, "5%")
    assert read_progress("loading the model") == formats.Progress(
        None, "loading the model", "loading the model")
    assert read_progress({"phase": 2}) == formats.Progress(None, '{"phase": 2}', '{"phase": 2}')
    assert read_progress(True) is None and read_progress(None) is None
    assert read_progress({"message": "hi"}, strict=True).fraction is None
    assert read_progress("3/8", strict=True) is None


def test_b64_and_data_url_read_files_bytes_and_pillow_images(tmp_path):
    data = png(3, 2)
    (tmp_path / "cat.png").write_bytes(data)
    (tmp_path / "talk.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    assert base64.b64decode(formats.b64(tmp_path / "cat.png")) == data
    assert formats.data_url(str(tmp_path / "cat.png")).startswith("data:image/png;base64,iVBOR")
    assert formats.data_url(tmp_path / "talk.wav").startswith("data:audio/wav;base64,")
    assert formats.b64(b"\x00\x01") == "AAE="
    image = Image.new("RGB", (4, 4), "red")
    decoded = Image.open(io.BytesIO(base64.b64decode(formats.as_base64(image))))
    assert decoded.size == (4, 4) and formats.as_base64("text") is None
    with pytest.raises(FileNotFoundError, match=r"b64\('nope.png'\): no such file: .*nope.png"):
        formats.b64("nope.png")
