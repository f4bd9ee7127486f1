"""How an output or a stream chunk is shown: one registry, extensible by users.

Each :class:`Renderer` says which values it ``matches`` and how to ``render`` one (HTML,
plain text, and PNG bytes for pictures); the registry asks them in priority order and the
first match wins.  Built in: the shapes of real workers that :mod:`rp_jupyter.formats`
recognises (``reply``: vLLM and OpenAI replies; ``worker-images``: ComfyUI, SDXL and
public-endpoint pictures; ``transcript``: faster-whisper; ``embeddings``), then ``image``
(base64, ``data:`` URLs, local files, bytes, Pillow images, dicts with an ``"image"`` key),
``images`` (a list of those), ``audio`` (``data:audio`` URLs and dicts with an ``"audio"``
key), ``text`` (strings) and ``json`` (everything else).  Yours come first.

``stream`` says how a chunk of that kind is shown while a job streams: ``"text"`` is
appended to running text, ``"frame"`` replaces the previous picture, ``"item"`` joins a
list whose newest entry is shown in full.

Example::

    import html
    import rp_jupyter

    rp_jupyter.renderers.register(
        "smiles",
        matches=lambda value: isinstance(value, dict) and "smiles" in value,
        render=lambda value: f"<code>{html.escape(value['smiles'])}</code>",
    )
    rp_jupyter.renderers.render({"smiles": "CCO"}).html   # '<code>CCO</code>'
    rp_jupyter.renderers.unregister("smiles")
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rp_jupyter.notebook import image_display as images
from rp_jupyter.notebook.markup import MONO, MUTED, esc, pre

__all__ = ["Renderer", "Renderers", "Rendering", "json_tree", "renderers"]

log = logging.getLogger("rp_jupyter.notebook")

STREAM_KINDS = ("text", "frame", "item")
USER_PRIORITY = 100
TEXT_LIMIT = 200_000  # characters of one text shown in HTML
JSON_ITEMS = 100  # entries shown per object or list in a JSON tree
JSON_DEPTH = 8
JSON_STRING = 2_000
JSON_TEXT_LIMIT = 20_000
# pictures at their natural size, never wider than the output area, never enlarged
IMG_STYLE = "display:block;max-width:100%;height:auto"
AUDIO_MAGIC = {"UklGR": "wav", "SUQz": "mpeg", "T2dnUw": "ogg", "ZkxhQw": "flac"}


@dataclass(frozen=True)
class Rendering:
    """A value made presentable: ``html`` for rich frontends, ``text`` for plain ones, and
    ``png`` (bytes) when the value is a picture."""

    html: str
    text: str
    png: bytes | None = None


@dataclass(frozen=True)
class Renderer:
    """One way to show values: ``render(value)`` returns a :class:`Rendering` or an HTML
    string, for values where ``matches(value)`` is true."""

    name: str
    matches: Callable[[Any], Any]
    render: Callable[[Any], Rendering | str]
    priority: int = USER_PRIORITY
    stream: str = "item"


class Renderers:
    """The registry (see the module docstring); ``rp_jupyter.renderers`` is the shared one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._order = itertools.count()
        self._entries: tuple[tuple[int, int, Renderer], ...] = ()
        self._builtins: frozenset[Renderer] = frozenset()

    def is_builtin(self, renderer: Renderer) -> bool:
        """True for the renderers this package ships (a user's own renderer is not)."""
        return renderer in self._builtins or renderer is _FALLBACK

    def register(
        self,
        name: str,
        *,
        matches: Callable[[Any], Any],
        render: Callable[[Any], Rendering | str],
        priority: int = USER_PRIORITY,
        stream: str = "item",
    ) -> Renderer:
        """Add a renderer (replacing one with the same name).  Higher ``priority`` is asked
        first; the built-ins use 0 to 63, so the default of 100 puts yours ahead of them."""
        if stream not in STREAM_KINDS:
            raise ValueError(f"stream must be one of {', '.join(STREAM_KINDS)}, not {stream!r}")
        renderer = Renderer(name, matches, render, priority, stream)
        with self._lock:
            kept = [e for e in self._entries if e[2].name != name]
            kept.append((-priority, -next(self._order), renderer))
            self._entries = tuple(sorted(kept, key=lambda e: (e[0], e[1])))
        return renderer

    def unregister(self, name: str) -> None:
        """Remove the renderer called ``name`` (a built-in too); unknown names are an error."""
        with self._lock:
            kept = tuple(e for e in self._entries if e[2].name != name)
            if len(kept) == len(self._entries):
                raise KeyError(f"no renderer named {name!r}")
            self._entries = kept

    def __iter__(self):
        return iter([e[2] for e in self._entries])

    def __contains__(self, name: object) -> bool:
        return any(e[2].name == name for e in self._entries)

    def names(self) -> list[str]:
        """Renderer names, in the order they are asked."""
        return [e[2].name for e in self._entries]

    def __repr__(self) -> str:
        return f"<Renderers {', '.join(self.names())}>"

    def _matching(self, value: Any):
        for _, _, renderer in self._entries:
            try:
                if renderer.matches(value):
                    yield renderer
            except Exception:
                log.debug("renderer %s: matches() failed", renderer.name, exc_info=True)

    def pick(self, value: Any) -> Renderer:
        """The renderer that would show ``value``."""
        return next(self._matching(value), _FALLBACK)

    def stream_kind(self, value: Any) -> str:
        """How a chunk like ``value`` streams: ``"text"``, ``"frame"`` or ``"item"``."""
        return self.pick(value).stream

    def render(self, value: Any) -> Rendering:
        """Render ``value`` with the first matching renderer that succeeds."""
        for renderer in self._matching(value):
            try:
                result = renderer.render(value)
            except Exception:
                log.debug("renderer %s failed on a value", renderer.name, exc_info=True)
                continue
            if isinstance(result, Rendering):
                return result
            return Rendering(html=str(result), text=_short_text(value))
        return _FALLBACK.render(value)  # type: ignore[return-value]


# -- built-ins ---------------------------------------------------------------------------


def _short_text(value: Any, limit: int = JSON_TEXT_LIMIT) -> str:
    text = value if isinstance(value, str) else _dumps(value, indent=2)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more chars)"


def _dumps(value: Any, indent: int | None = None) -> str:
    try:
        return json.dumps(value, indent=indent, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        return repr(value)


def render_text(value: str) -> Rendering:
    shown = value if len(value) <= TEXT_LIMIT else value[:TEXT_LIMIT]
    more = (
        ""
        if shown is value
        else (f'<div style="{MUTED}">… {len(value) - TEXT_LIMIT} more characters not shown</div>')
    )
    return Rendering(html=pre(shown) + more, text=value)


def json_tree(value: Any, depth: int = 0) -> str:
    """A JSON value as nested folding lists (the top two levels open)."""
    if isinstance(value, (dict, list, tuple)):
        is_dict = isinstance(value, dict)
        items = list(value.items()) if is_dict else list(enumerate(value))
        if not items:
            return f'<span style="{MONO}">{"{}" if is_dict else "[]"}</span>'
        if depth >= JSON_DEPTH:
            return f'<span style="{MONO}">{esc(_dumps(value)[:JSON_STRING])}</span>'
        rows = []
        for key, item in items[:JSON_ITEMS]:
            label = (
                f'<span style="color:#7c3aed">{esc(key)}</span>'
                if is_dict
                else f'<span style="{MUTED}">{key}</span>'
            )
            rows.append(f"<li>{label}: {json_tree(item, depth + 1)}</li>")
        if len(items) > JSON_ITEMS:
            rows.append(f'<li style="{MUTED}">… {len(items) - JSON_ITEMS} more</li>')
        noun = (
            f"{len(items)} key{'s' if len(items) != 1 else ''}"
            if is_dict
            else f"{len(items)} item{'s' if len(items) != 1 else ''}"
        )
        brackets = "{…}" if is_dict else "[…]"
        flag = " open" if depth < 2 else ""
        return (
            f'<details{flag} style="display:inline-block;vertical-align:top">'
            f'<summary style="cursor:pointer;{MUTED}">{brackets} {noun}</summary>'
            f'<ul style="{MONO};list-style:none;margin:0;padding-left:1.4em">{"".join(rows)}'
            f"</ul></details>"
        )
    return _json_leaf(value)


def _json_leaf(value: Any) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= JSON_STRING else value[:JSON_STRING] + "…"
        return (
            f'<span style="{MONO};color:#047857;white-space:pre-wrap">'
            f"{esc(json.dumps(shown, ensure_ascii=False))}</span>"
        )
    if isinstance(value, bool) or value is None:
        return f'<span style="{MONO};color:#9333ea">{esc(json.dumps(value))}</span>'
    if isinstance(value, (int, float)):
        return f'<span style="{MONO};color:#1d4ed8">{esc(value)}</span>'
    return f'<span style="{MONO}">{esc(repr(value))}</span>'


def render_json(value: Any) -> Rendering:
    return Rendering(html=f"<div>{json_tree(value)}</div>", text=_short_text(value))


def _caption(value: Any) -> str:
    if isinstance(value, dict):
        extras = {
            k: v for k, v in value.items() if k != "image" and not isinstance(v, (dict, list))
        }
        return ", ".join(f"{k}={v}" for k, v in list(extras.items())[:6])
    return ""


def render_image(value: Any) -> Rendering:
    picture = images.encode_image(value)
    caption = _caption(value)
    label = picture.describe() + (f" · {caption}" if caption else "")
    html = (
        f'<figure style="margin:4px 0"><img src="{picture.data_url()}" alt="{esc(label)}" '
        f'style="{IMG_STYLE}"/><figcaption style="{MUTED};font-size:11px">'
        f"{esc(label)}</figcaption></figure>"
    )
    return Rendering(html=html, text=f"[image {label}]", png=picture.png())


def _is_image_list(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(images.is_image(v) for v in value)
    )


def render_images(values: Any) -> Rendering:
    pictures = [images.encode_image(v) for v in values]
    cells = "".join(
        f'<figure style="margin:0;max-width:100%"><img src="{p.data_url()}" alt="image {i}" '
        f'style="{IMG_STYLE}"/><figcaption style="{MUTED};font-size:11px">'
        f"{i}: {esc(p.describe())}</figcaption></figure>"
        for i, p in enumerate(pictures)
    )
    html = (f'<div style="display:flex;flex-wrap:wrap;gap:6px;align-items:flex-start">'
            f"{cells}</div>")
    return Rendering(html=html, text=f"[{len(pictures)} images]",
                     png=images.contact_sheet(pictures))


def _audio_source(value: Any) -> str | None:
    payload = value.get("audio") if isinstance(value, dict) else value
    if not isinstance(payload, str):
        return None
    if payload.startswith("data:audio/"):
        return payload
    for prefix, kind in AUDIO_MAGIC.items():
        if (
            len(payload) >= 64
            and payload.startswith(prefix)
            and (kind != "wav" or base64.b64decode(payload[:16])[8:12] == b"WAVE")
        ):
            return f"data:audio/{kind};base64,{payload}"
    return None


def render_audio(value: Any) -> Rendering:
    source = _audio_source(value)
    if source is None:
        raise ValueError("not audio")
    kind = source[len("data:audio/") :].split(";", 1)[0]
    size = len(source) * 3 // 4 // 1024
    html = (
        f'<audio controls src="{source}"></audio>'
        f'<div style="{MUTED}">{esc(kind)} audio, {size} KB</div>'
    )
    return Rendering(html=html, text=f"[{kind} audio, {size} KB]")


def _fallback_render(value: Any) -> Rendering:
    return Rendering(html=pre(repr(value)[:JSON_TEXT_LIMIT]), text=repr(value)[:JSON_TEXT_LIMIT])


_FALLBACK = Renderer("repr", lambda value: True, _fallback_render, -1_000, "item")


def _reading_of(value: Any) -> Any:
    from rp_jupyter import formats

    return formats.read(value)


def _format_renderer(kind: str) -> tuple[Callable[[Any], Any], Callable[[Any], Rendering]]:
    """``(matches, render)`` for one kind of worker output that rp_jupyter.formats knows."""
    from rp_jupyter import formats

    reader = {
        "reply": formats.read_reply,
        "worker-images": formats.read_images,
        "transcript": formats.read_transcript,
        "embeddings": formats.read_embeddings,
    }[kind]

    def matches(value: Any) -> bool:
        if isinstance(value, (bool, int, float)) or value is None:
            return False
        return reader(value) is not None

    def render(value: Any) -> Rendering:
        from rp_jupyter.notebook.format_views import render_reading

        reading = reader(value)
        if reading is None:
            raise ValueError(f"not a {kind}")
        return render_reading(reading)

    return matches, render


def _builtin_registry() -> Renderers:
    registry = Renderers()
    registry.register("json", matches=lambda v: True, render=render_json, priority=0)
    registry.register(
        "text", matches=lambda v: isinstance(v, str), render=render_text, priority=10, stream="text"
    )
    registry.register(
        "audio", matches=lambda v: _audio_source(v) is not None, render=render_audio, priority=40
    )
    registry.register("images", matches=_is_image_list, render=render_images, priority=45)
    registry.register(
        "image", matches=images.is_image, render=render_image, priority=50, stream="frame"
    )
    for offset, kind in enumerate(("embeddings", "transcript", "worker-images", "reply")):
        matches, render = _format_renderer(kind)
        registry.register(kind, matches=matches, render=render, priority=60 + offset)
    registry._builtins = frozenset(registry)
    return registry


renderers = _builtin_registry()
"""The shared registry used by every panel and static rendering."""
