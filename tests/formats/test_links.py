"""The links in real workers' outputs, found with their JSON paths, and signed URLs masked."""

from __future__ import annotations

from rp_jupyter import formats

SIGNED = ("https://bucket.s3.us-east-1.amazonaws.com/job-1/0.png?X-Amz-Algorithm=AWS4-HMAC-SHA256"
          "&X-Amz-Credential=AKIAEXAMPLE%2F20261205%2Fus-east-1%2Fs3%2Faws4_request"
          "&X-Amz-Date=20261205T031500Z&X-Amz-Expires=604800&X-Amz-SignedHeaders=host"
          "&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE&X-Amz-Signature=0123456789abcdef")


def test_the_links_of_comfyui_sdxl_and_public_endpoints_with_their_paths():
    comfy = {"images": [{"filename": "a.png", "type": "s3_url", "data": SIGNED},
                        {"filename": "b.png", "type": "base64", "data": "iVBORw0KGgo="}]}
    assert formats.find_links(comfy) == [formats.Link("$.images[0].data", SIGNED)]
    sdxl = {"images": [SIGNED, "https://x.example/1.png"], "image_url": SIGNED, "seed": 4}
    assert [link.path for link in formats.find_links(sdxl)] == ["$.images[0]", "$.images[1]"]
    public = {"image_url": "https://cdn.example/flux.png", "cost": 0.0024}
    assert formats.find_links(public) == [
        formats.Link("$.image_url", "https://cdn.example/flux.png")]


def test_text_that_is_not_a_link_is_left_alone():
    output = {"text": "see https://a.example/x for more", "u": "ftp://a.example/f",
              "bare": "https://", "data": "data:image/png;base64,AAAA"}
    assert formats.find_links(output) == []
    assert formats.find_links("https://a.example/only.png") == [
        formats.Link("$", "https://a.example/only.png")]


def test_a_deep_or_huge_output_is_walked_within_bounds():
    deep: object = "https://a.example/deep.png"
    for _ in range(100):
        deep = [deep]
    assert formats.find_links(deep) == []
    many = [f"https://a.example/{i}.png" for i in range(1000)]
    assert len(formats.find_links(many)) == formats.links.MAX_LINKS


def test_signed_url_secrets_are_masked_and_the_rest_stays_readable():
    masked = formats.mask_url(SIGNED)
    for secret in ("0123456789abcdef", "AKIAEXAMPLE", "FwoGZXIvYXdzEXAMPLE"):
        assert secret not in masked
    assert masked.startswith("https://bucket.s3.us-east-1.amazonaws.com/job-1/0.png?")
    assert "X-Amz-Expires=604800" in masked and "X-Amz-Signature=***" in masked
    assert formats.mask_url("https://u:pw@h.example/a?sig=s3cr3t&sv=2024&token=t0k") == \
        "https://***@h.example/a?sig=***&sv=2024&token=***"
    assert formats.mask_url("https://h.example/plain.png") == "https://h.example/plain.png"


def test_every_url_in_a_text_is_masked():
    text = f'{{"video_url": "{SIGNED}", "other": "https://h.example/a?Signature=zz"}}'
    masked = formats.mask_links_in(text)
    assert "0123456789abcdef" not in masked and "Signature=zz" not in masked
    assert masked.count("***") == 4 and '"video_url": "https://bucket' in masked
