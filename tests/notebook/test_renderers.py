from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from rp_jupyter.notebook import image_display as images
from rp_jupyter.notebook.renderers import Renderers, Rendering, renderers


def png_bytes(size=(12, 8), colour="red", fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=fmt)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_text_renders_escaped_in_a_pre_block_and_as_itself_in_plain_text():
    rendering = renderers.render("<b>hi</b> & bye")
    assert "<pre" in rendering.html
    assert "&lt;b&gt;hi&lt;/b&gt; &amp; bye" in rendering.html
    assert "<b>hi" not in rendering.html
    assert rendering.text == "<b>hi</b> & bye"


def test_json_renders_as_folding_tree_with_indented_text_fallback():
    value = {"answer": 42, "tags": ["a", "b"], "nested": {"ok": True, "none": None}}
    rendering = renderers.render(value)
    assert rendering.html.count("<details") == 3  # the object and its two containers
    assert "answer" in rendering.html and "42" in rendering.html
    assert "3 keys" in rendering.html and "2 items" in rendering.html
    assert '"answer": 42' in rendering.text and "\n" in rendering.text


def test_json_tree_shows_a_bounded_number_of_items():
    rendering = renderers.render(list(range(500)))
    assert "… 400 more" in rendering.html
    assert rendering.html.count("<li>") == 100


@pytest.mark.parametrize("form", ["base64", "data-url", "path", "bytes", "dict"])
def test_every_image_form_renders_the_same_picture_with_a_png(form, tmp_path):
    data = png_bytes((12, 8))
    path = tmp_path / "picture.png"
    path.write_bytes(data)
    value = {
        "base64": b64(data),
        "data-url": "data:image/png;base64," + b64(data),
        "path": str(path),
        "bytes": data,
        "dict": {"image": b64(data), "step": 3, "steps": 8},
    }[form]
    assert renderers.pick(value).name == "image"
    rendering = renderers.render(value)
    assert rendering.png == data
    assert Image.open(io.BytesIO(rendering.png)).size == (12, 8)
    assert "12×8 PNG" in rendering.text
    assert "<img" in rendering.html and "data:image/png;base64," in rendering.html


def test_jpeg_and_webp_outputs_get_converted_to_png_for_the_image_png_bundle():
    for fmt in ("JPEG", "WEBP"):
        rendering = renderers.render(b64(png_bytes((20, 10), fmt=fmt)))
        assert rendering.png is not None and rendering.png.startswith(b"\x89PNG")
        assert Image.open(io.BytesIO(rendering.png)).size == (20, 10)


def test_a_list_of_images_is_a_gallery_with_a_contact_sheet_png():
    pictures = [b64(png_bytes((30, 30), colour)) for colour in ("red", "green", "blue")]
    assert renderers.pick(pictures).name == "images"
    rendering = renderers.render(pictures)
    assert rendering.html.count("<img") == 3
    sheet = Image.open(io.BytesIO(rendering.png))
    assert sheet.size[0] >= 3 * 30 and sheet.size[1] >= 30
    assert rendering.text == "[3 images]"


def test_text_that_merely_looks_like_a_file_name_is_text():
    assert renderers.pick("no-such-file.png").name == "text"
    assert renderers.pick("iVBOR").name == "text"  # too short to be a picture


def test_audio_data_url_renders_an_audio_player():
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(64)
    rendering = renderers.render({"audio": b64(wav)})
    assert '<audio controls src="data:audio/wav;base64,' in rendering.html
    assert "wav audio" in rendering.text


def test_stream_kinds_text_appends_pictures_replace_everything_else_lists():
    assert renderers.stream_kind("word ") == "text"
    assert renderers.stream_kind({"image": b64(png_bytes()), "step": 1}) == "frame"
    assert renderers.stream_kind({"chunk": 1}) == "item"
    assert renderers.stream_kind([1, 2]) == "item"


def test_a_user_renderer_wins_over_builtins_and_can_be_removed():
    registry = Renderers()
    registry.register("json", matches=lambda v: True, render=lambda v: "json", priority=0)
    registry.register(
        "smiles",
        matches=lambda v: isinstance(v, dict) and "smiles" in v,
        render=lambda v: f"<code>{v['smiles']}</code>",
    )
    assert registry.names() == ["smiles", "json"]
    rendering = registry.render({"smiles": "CCO"})
    assert rendering.html == "<code>CCO</code>"
    assert '"smiles": "CCO"' in rendering.text  # a string result still gets a text fallback
    registry.unregister("smiles")
    assert registry.render({"smiles": "CCO"}).html == "json"
    with pytest.raises(KeyError):
        registry.unregister("smiles")


def test_the_shared_registry_accepts_renderers_through_the_public_name():
    import rp_jupyter

    rp_jupyter.renderers.register(
        "upper", matches=lambda v: v == "shout", render=lambda v: Rendering("<b>SHOUT</b>", "SHOUT")
    )
    try:
        assert renderers.render("shout").text == "SHOUT"
    finally:
        rp_jupyter.renderers.unregister("upper")
    assert renderers.render("shout").text == "shout"


def test_a_failing_renderer_falls_back_to_the_next_match():
    registry = Renderers()
    registry.register("json", matches=lambda v: True, render=lambda v: "fallback", priority=0)
    registry.register("broken", matches=lambda v: True, render=lambda v: 1 / 0)
    assert registry.render({"x": 1}).html == "fallback"


def test_a_registering_a_name_again_replaces_it():
    registry = Renderers()
    registry.register("r", matches=lambda v: True, render=lambda v: "one")
    registry.register("r", matches=lambda v: True, render=lambda v: "two")
    assert registry.names() == ["r"]
    assert registry.render(1).html == "two"


def test_unknown_stream_kind_is_refused():
    with pytest.raises(ValueError, match="stream must be one of"):
        Renderers().register("x", matches=bool, render=str, stream="video")


def test_an_unreadable_picture_is_not_an_image_render():
    broken = "iVBORw0KGgo" + "A" * 80  # a PNG prefix, then garbage
    assert images.is_image(broken)
    rendering = renderers.render(broken)  # the image renderer fails, text takes over
    assert rendering.png is None and broken in rendering.text
