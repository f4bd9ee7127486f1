"""The links in an output that stop working: presigned S3 URLs (``rp_upload``), public
endpoints' result URLs.  Each is found with its JSON path, so the file behind it can be
saved while the link lives; :func:`mask_url` hides a signed URL's secrets for display.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

__all__ = ["Link", "find_links", "mask_links_in", "mask_url"]

MAX_LINKS = 64  # an output listing more URLs than this keeps the first ones
MAX_DEPTH = 12
MAX_NODES = 5000

SECRET_PARAMS = frozenset({
    "x-amz-signature", "x-amz-credential", "x-amz-security-token", "signature", "sig",
    "token", "x-goog-signature", "x-goog-credential", "awsaccesskeyid", "access_token",
    "key",
})
MASK = "***"


@dataclass(frozen=True)
class Link:
    """One URL of an output: ``path`` is where it sits (``$.images[0].data``)."""

    path: str
    url: str

    @property
    def masked(self) -> str:
        return mask_url(self.url)


def find_links(output: Any) -> list[Link]:
    """Every http(s) URL string in ``output`` (ComfyUI ``images[].data`` with ``type:
    s3_url``, SDXL and public endpoints' ``image_url``, and any other), in order, each once.

    Example: ``find_links({"image_url": "https://b.s3/x.png?X-Amz-Signature=.."})`` gives
    ``[Link("$.image_url", "https://b.s3/x.png?X-Amz-Signature=..")]``.
    """
    found: list[Link] = []
    seen: set[str] = set()
    pending: list[tuple[str, Any, int]] = [("$", output, 0)]
    nodes = 0
    while pending and len(found) < MAX_LINKS and nodes < MAX_NODES:
        path, value, depth = pending.pop()
        nodes += 1
        if isinstance(value, str):
            if _is_link(value) and value not in seen:
                seen.add(value)
                found.append(Link(path, value))
        elif depth < MAX_DEPTH and isinstance(value, dict):
            items = [(f"{path}.{key}", item) for key, item in value.items()]
            pending.extend((p, v, depth + 1) for p, v in reversed(items))
        elif depth < MAX_DEPTH and isinstance(value, list):
            pending.extend((f"{path}[{i}]", v, depth + 1)
                           for i, v in reversed(list(enumerate(value))))
    return found


def mask_url(url: str) -> str:
    """``url`` with the values of signing parameters (``X-Amz-Signature``,
    ``X-Amz-Credential``, ``X-Amz-Security-Token``, ``Signature``, ``sig``, ``token``...)
    and any user:password replaced by ``***``; other parameters stay readable."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = "&".join(_mask_param(piece) for piece in parts.query.split("&")) \
        if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_URL_IN_TEXT = re.compile(r"https?://[^\s\"'<>\\]+")


def mask_links_in(text: str) -> str:
    """``text`` (a JSON preview, a message) with every URL in it masked by :func:`mask_url`."""
    return _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)


def _mask_param(piece: str) -> str:
    name, eq, _ = piece.partition("=")
    if eq and urllib.parse.unquote(name).lower() in SECRET_PARAMS:
        return f"{name}={MASK}"
    return piece


def _is_link(value: str) -> bool:
    if not value.startswith(("http://", "https://")) or len(value) > 8192:
        return False
    if any(c.isspace() for c in value):
        return False
    return bool(urllib.parse.urlsplit(value).netloc)
