"""Transcripts (faster-whisper): the text, subtitle cues with their times, the segments.

The worker answers ``{"segments": [{"id", "start", "end", "text", ...}],
"detected_language", "transcription", "translation", "device", "model"}``, where
``transcription`` is plain text, text with a line per segment, SRT or WebVTT, as the
input's ``transcription`` asked.  SRT and VTT are parsed back into :class:`Cue` lines.

Example::

    t = read_transcript({"segments": [], "transcription": "1\\n00:00:00,000 --> "
                         "00:00:01,500\\nHello\\n\\n", "detected_language": "en"})
    t.format, t.cues[0].text          # ('srt', 'Hello')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Cue", "Transcript", "format_time", "parse_subtitles", "read_transcript"]

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[,.](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")


@dataclass(frozen=True)
class Cue:
    """One subtitle line: when it shows (seconds) and what it says."""

    start: float
    end: float
    text: str


@dataclass
class Transcript:
    """A transcription: ``text`` exactly as the worker gave it, its ``format`` (``srt``,
    ``vtt`` or ``text``), the ``cues`` (from the subtitles, else from the segments)."""

    text: str
    format: str
    cues: list[Cue]
    segments: list[dict[str, Any]] = field(default_factory=list)
    language: str | None = None
    model: str | None = None
    translation: str | None = None

    @property
    def duration(self) -> float | None:
        return max((c.end for c in self.cues), default=None)

    @property
    def plain_text(self) -> str:
        """The words alone: subtitles without their numbers and times."""
        if self.format == "text":
            return self.text
        return " ".join(c.text.replace("\n", " ") for c in self.cues)

    def subtitle_lines(self) -> list[str]:
        """``00:00:01.000 → 00:00:02.500  Hello`` per cue, for plain-text views."""
        return [f"{format_time(c.start)} → {format_time(c.end)}  {c.text}" for c in self.cues]

    def summary(self) -> str:
        """``transcript · en · 3 segments · 12.4 s · model base``."""
        parts = ["transcript"]
        if self.language:
            parts.append(self.language)
        count = len(self.segments) or len(self.cues)
        parts.append(f"{count} segment{'s' if count != 1 else ''}")
        if self.duration is not None:
            parts.append(f"{self.duration:.1f} s")
        if self.format in ("srt", "vtt"):
            parts.append(self.format.upper())
        if self.model:
            parts.append(f"model {self.model}")
        return " · ".join(parts)


def format_time(seconds: float) -> str:
    """``01:02:03.450`` (hours only when there are any)."""
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    clock = f"{minutes:02d}:{secs:02d}.{millis:03d}"
    return f"{hours:02d}:{clock}" if hours else clock


def _seconds(groups: tuple[str | None, ...]) -> float:
    hours, minutes, secs, fraction = groups
    return (int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(secs or 0)
            + int((fraction or "0").ljust(3, "0")) / 1000)


def parse_subtitles(text: str) -> tuple[str, list[Cue]] | None:
    """``("srt" | "vtt", cues)`` when ``text`` is SRT or WebVTT, else ``None``."""
    cues: list[Cue] = []
    blocks = re.split(r"\r?\n\s*\r?\n", text.strip())
    kind = "vtt" if text.lstrip().startswith("WEBVTT") else None
    for block in blocks:
        lines = [line for line in block.splitlines() if line.strip()]
        while lines and not _TIMING.match(lines[0]):
            if lines[0].strip().isdigit():
                kind = kind or "srt"
            lines.pop(0)
        if not lines:
            continue
        match = _TIMING.match(lines[0])
        assert match is not None
        groups = match.groups()
        if kind is None:
            kind = "srt" if "," in lines[0] else "vtt"
        cues.append(Cue(_seconds(groups[:4]), _seconds(groups[4:]), "\n".join(lines[1:])))
    if not cues or kind is None:
        return None
    return kind, cues


def _unwrap(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        return value[0]
    return value


def read_transcript(value: Any) -> Transcript | None:
    """The transcript in a faster-whisper output, or ``None``."""
    value = _unwrap(value)
    if not isinstance(value, dict):
        return None
    segments, text = value.get("segments"), value.get("transcription")
    if not isinstance(segments, list) or not isinstance(text, str):
        return None
    if "detected_language" not in value and not all(
        isinstance(s, dict) and "start" in s for s in segments
    ):
        return None
    rows = [s for s in segments if isinstance(s, dict)]
    parsed = parse_subtitles(text)
    if parsed is not None:
        kind, cues = parsed
    else:
        kind = "text"
        cues = [Cue(float(s.get("start") or 0), float(s.get("end") or 0),
                    str(s.get("text") or "").strip()) for s in rows
                if isinstance(s.get("start"), (int, float))]
    translation = value.get("translation")
    return Transcript(
        text=text, format=kind, cues=cues, segments=rows,
        language=value.get("detected_language") or None,
        model=value.get("model") if isinstance(value.get("model"), str) else None,
        translation=translation if isinstance(translation, str) and translation else None,
    )
