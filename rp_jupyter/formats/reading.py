"""One question for every output: what did the worker give back, in a person's terms?

:func:`read` recognises a value (a final output, or the list of a job's chunks) as a
:class:`~rp_jupyter.formats.replies.Reply`, an :class:`~rp_jupyter.formats.images.ImageSet`,
a :class:`~rp_jupyter.formats.transcripts.Transcript` or
:class:`~rp_jupyter.formats.embeddings.Embeddings`; :func:`read_job` does the same for a job's
output and chunks together, and the ``job_*`` helpers give what ``Job.text``, ``Job.images``
and ``Job.embeddings`` return.
"""

from __future__ import annotations

from typing import Any

from rp_jupyter.formats.embeddings import Embeddings, read_embeddings
from rp_jupyter.formats.images import ImageRef, ImageSet, image_ref, read_images
from rp_jupyter.formats.replies import Reply, ReplyStream, read_reply
from rp_jupyter.formats.sniff import looks_like_image
from rp_jupyter.formats.transcripts import Transcript, read_transcript

__all__ = [
    "Reading",
    "job_embeddings",
    "job_image_refs",
    "job_text",
    "output_preview",
    "read",
    "read_job",
    "stream_preview",
]

Reading = Reply | ImageSet | Transcript | Embeddings
PREVIEW_CHARS = 240
STREAM_PREVIEW_CHUNKS = 2_000  # a longer stream's preview says how many chunks it has
_READERS = (read_reply, read_images, read_transcript, read_embeddings)


def read(value: Any) -> Reading | None:
    """What ``value`` is, when it is a shape real workers produce; else ``None``."""
    if value is None or isinstance(value, (bool, int, float)):
        return None
    for reader in _READERS:
        try:
            found = reader(value)
        except (TypeError, ValueError, KeyError, AttributeError, RecursionError):
            found = None
        if found is not None:
            return found
    return None


def _empty(output: Any) -> bool:
    return output is None or output == []


def read_job(output: Any, chunks: list[Any]) -> Reading | None:
    """The reading of a job: from its output (``None`` when there is none), else from its
    stream (an output that merely aggregates the stream reads the same either way)."""
    if not _empty(output):
        found = read(output)
        if found is not None:
            return found
    return read(chunks) if chunks else None


def job_text(output: Any, chunks: list[Any]) -> str | None:
    """The text a job produced: a model's reply, a transcript, the joined text chunks, or
    a text output; ``None`` when it produced something else."""
    found = read_job(output, chunks)
    if isinstance(found, Reply):
        return found.text if (found.text or not found.error) else None
    if isinstance(found, Transcript):
        return found.text
    if chunks and all(isinstance(c, str) for c in chunks):
        stream = ReplyStream()
        for chunk in chunks:
            if stream.feed(chunk) is None:
                return None
        stream.finish()
        return stream.reply.text
    if isinstance(output, str) and not chunks and not looks_like_image(output):
        return output
    return None


def job_image_refs(output: Any, chunks: list[Any]) -> list[ImageRef]:
    """The pictures a job produced: a worker's image set, a picture (or list of them) as
    the output, or the newest frame of a picture stream."""
    found = read_job(output, chunks)
    if isinstance(found, ImageSet):
        return list(found.refs)
    if not _empty(output):
        return _pictures(output)
    if chunks:
        newest = _pictures(chunks[-1])
        if newest and all(_pictures(c) for c in chunks):
            return newest
    return []


def _pictures(value: Any) -> list[ImageRef]:
    if isinstance(value, dict):
        value = value.get("image")
    if isinstance(value, list):
        refs = [image_ref(v) for v in value]
        return [r for r in refs if r is not None] if all(refs) else []
    ref = image_ref(value)
    if ref is None or (ref.kind == "url" and not _is_image_url(value)):
        return []
    return [ref]


def _is_image_url(value: Any) -> bool:
    return isinstance(value, str) and value.split("?", 1)[0].lower().endswith(
        (".png", ".jpg", ".jpeg", ".webp", ".gif"))


def job_embeddings(output: Any, chunks: list[Any]) -> Embeddings | None:
    found = read_job(output, chunks)
    return found if isinstance(found, Embeddings) else None


def output_preview(value: Any) -> str | None:
    """A one-line preview of a recognised output (the reply's start, ``2 images from
    ComfyUI``, the transcript, the embeddings' size), for lists of jobs; else ``None``."""
    found = read(value)
    if found is None:
        return None
    if isinstance(found, Reply):
        text = found.gist()
    elif isinstance(found, Transcript):
        text = found.plain_text
    else:
        text = found.summary()
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def stream_preview(chunks: list[Any]) -> str:
    """A one-line preview of a job's stream, for lists of jobs: its recognised output or
    its text, else how many chunks it has."""
    if len(chunks) > STREAM_PREVIEW_CHUNKS:
        return f"({len(chunks)} chunks)"
    text = output_preview(chunks) or job_text(None, chunks)
    if not text:
        return f"({len(chunks)} chunks)"
    text = text.replace("\n", " ")
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"
