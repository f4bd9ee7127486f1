"""``transcribe``: a CPU stand-in for worker-faster_whisper: its inputs and its output,
with segments derived deterministically from the audio bytes (no speech recognition).

Input: ``audio`` (a URL: http(s), ``file:`` or ``data:``) or ``audio_base64``, not both;
``model`` (``tiny`` ... ``large-v3``, ``turbo``; default ``base``); ``transcription``
(``plain_text`` default, ``formatted_text``, ``srt``, ``vtt``); ``translate`` and
``translation`` (its format); ``language`` (default: "detected" from the audio);
``word_timestamps``; the decoding parameters (``temperature``, ``beam_size``...) are
accepted and ignored.

Output, as the worker's: ``{"segments": [{"id", "seek", "start", "end", "text", "tokens",
"temperature", "avg_logprob", "compression_ratio", "no_speech_prob"}],
"detected_language", "transcription", "translation", "device": "cpu", "model"}`` (+
``word_timestamps`` when asked).  A WAV file's real duration sets the timing; other bytes
count as 16 kB per second.  The text is drawn from the Gettysburg Address (the worker's
own sample input), picked by the audio's hash.

Example: ``{"audio_base64": "<base64 WAV>", "transcription": "srt"}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import random
import urllib.request
import wave
from typing import Any

AVAILABLE_MODELS = ("tiny", "base", "small", "medium", "large-v1", "large-v2", "large-v3",
                    "turbo")
FORMATS = ("plain_text", "formatted_text", "srt", "vtt")
LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt", "sv")
_ADDRESS = (
    "Four score and seven years ago our fathers brought forth on this continent a new "
    "nation, conceived in liberty, and dedicated to the proposition that all men are "
    "created equal. Now we are engaged in a great civil war, testing whether that nation, "
    "or any nation so conceived and so dedicated, can long endure. We are met on a great "
    "battlefield of that war. We have come to dedicate a portion of that field, as a final "
    "resting place for those who here gave their lives that that nation might live. It is "
    "altogether fitting and proper that we should do this."
)
SENTENCES = tuple(_ADDRESS.split(". "))
BYTES_PER_SECOND = 16_000


class InputError(Exception):
    """The input cannot be used; the message is the job's error."""


def handler(job: dict[str, Any]) -> dict[str, Any]:
    data = job.get("input") or {}
    if not data.get("audio") and not data.get("audio_base64"):
        return {"error": "Must provide either audio or audio_base64"}
    if data.get("audio") and data.get("audio_base64"):
        return {"error": "Must provide either audio or audio_base64, not both"}
    model = data.get("model") or "base"
    if model not in AVAILABLE_MODELS:
        raise ValueError(f"Invalid model name: {model}. Available models are: "
                         f"{set(AVAILABLE_MODELS)}")
    try:
        audio = _audio_bytes(data)
    except InputError as err:
        return {"error": str(err)}
    return transcribe(audio, model=model, transcription=data.get("transcription"),
                      translate=bool(data.get("translate")),
                      translation=data.get("translation"), language=data.get("language"),
                      word_timestamps=bool(data.get("word_timestamps")))


def _audio_bytes(data: dict[str, Any]) -> bytes:
    if data.get("audio_base64"):
        try:
            return base64.b64decode(str(data["audio_base64"]), validate=True)
        except (binascii.Error, ValueError):
            raise InputError("audio_base64 is not valid base64") from None
    url = str(data["audio"])
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read()
    except (OSError, ValueError) as err:
        raise InputError(f"cannot download audio {url!r}: {err}") from None


def duration_of(audio: bytes) -> float:
    """Seconds of audio: a WAV file's own length, else 16 kB per second."""
    try:
        with wave.open(io.BytesIO(audio)) as wav:
            return wav.getnframes() / float(wav.getframerate() or 1)
    except (wave.Error, EOFError):
        return len(audio) / BYTES_PER_SECOND


def transcribe(audio: bytes, *, model: str = "base", transcription: str | None = None,
               translate: bool = False, translation: str | None = None,
               language: str | None = None, word_timestamps: bool = False) -> dict[str, Any]:
    """The worker's answer for ``audio``."""
    digest = hashlib.sha256(audio).hexdigest()
    rng = random.Random(digest)
    seconds = max(1.0, duration_of(audio))
    count = max(1, min(len(SENTENCES), round(seconds / 4)))
    first = rng.randrange(len(SENTENCES))
    texts = [SENTENCES[(first + i) % len(SENTENCES)].rstrip(".") + "." for i in range(count)]
    segments, words, cursor = [], [], 0.0
    span = seconds / count
    for index, text in enumerate(texts):
        start, end = round(cursor, 2), round(min(seconds, cursor + span), 2)
        segments.append({
            "id": index + 1, "seek": int(start * 100), "start": start, "end": end,
            "text": " " + text, "tokens": [50364 + (hash_word(w) % 1000) for w in text.split()],
            "temperature": 0.0, "avg_logprob": round(-0.1 - rng.random() * 0.3, 4),
            "compression_ratio": round(1.2 + rng.random() * 0.4, 4),
            "no_speech_prob": round(rng.random() * 0.05, 4)})
        step = (end - start) / max(1, len(text.split()))
        for k, word in enumerate(text.split()):
            words.append({"word": " " + word, "start": round(start + k * step, 2),
                          "end": round(start + (k + 1) * step, 2)})
        cursor += span
    result: dict[str, Any] = {
        "segments": segments,
        "detected_language": language or LANGUAGES[int(digest[:2], 16) % len(LANGUAGES)],
        "transcription": format_segments(transcription or "plain_text", segments),
        "translation": format_segments(translation or "plain_text", segments)
        if translate else None,
        "device": "cpu",
        "model": model,
    }
    if word_timestamps:
        result["word_timestamps"] = words
    return result


def hash_word(word: str) -> int:
    return int(hashlib.md5(word.encode(), usedforsecurity=False).hexdigest()[:6], 16)


def timestamp(seconds: float, decimal_marker: str = ".") -> str:
    """``HH:MM:SS.mmm`` as faster-whisper's ``format_timestamp(always_include_hours=True)``."""
    millis = round(seconds * 1000.0)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_marker}{millis:03d}"


def format_segments(kind: str, segments: list[dict[str, Any]]) -> str:
    """The transcript in one of the worker's formats (unknown ones as plain text)."""
    if kind == "formatted_text":
        return "\n".join(s["text"].lstrip() for s in segments)
    if kind == "srt":
        return "".join(f"{i}\n{timestamp(s['start'], ',')} --> {timestamp(s['end'], ',')}\n"
                       f"{s['text'].strip().replace('-->', '->')}\n\n"
                       for i, s in enumerate(segments, start=1))
    if kind == "vtt":  # as the worker writes it: cues only, no WEBVTT header
        return "".join(f"{timestamp(s['start'])} --> {timestamp(s['end'])}\n"
                       f"{s['text'].strip().replace('-->', '->')}\n\n" for s in segments)
    return " ".join(s["text"].lstrip() for s in segments)


if __name__ == "__main__":  # as a runpod-python worker: python -m <this module>
    import runpod

    runpod.serverless.start({"handler": handler})
