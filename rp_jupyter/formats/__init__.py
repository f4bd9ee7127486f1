"""The output shapes real Runpod workers produce, and what a person came for in each.

One home for them: the engine (``Job.text``, ``Job.images``, progress) and every view (live
panels, static renderings, terminal output, sweeps, the jobs table) ask this package, and
nothing else parses worker shapes.  It imports only the standard library (Pillow is
imported when a picture is decoded), so any layer may use it.

- :mod:`~rp_jupyter.formats.replies`: vLLM token batches, OpenAI objects, OpenAI event
  streams split anywhere (:mod:`~rp_jupyter.formats.sse`), errors;
  :mod:`~rp_jupyter.formats.completions` puts a streamed OpenAI reply back together.
- :mod:`~rp_jupyter.formats.images`: ComfyUI, SDXL and public-endpoint pictures.
- :mod:`~rp_jupyter.formats.transcripts`: faster-whisper text, SRT and VTT.
- :mod:`~rp_jupyter.formats.embeddings`: infinity and OpenAI embeddings.
- :mod:`~rp_jupyter.formats.progress`: progress updates and progress fields in chunks.
- :mod:`~rp_jupyter.formats.inputs`: files as base64 and ``data:`` URLs for inputs.

Example::

    from rp_jupyter import formats
    reading = formats.read(job.output)     # a Reply, ImageSet, Transcript, Embeddings or None
"""

from __future__ import annotations

from rp_jupyter.formats.completions import assemble_completion
from rp_jupyter.formats.embeddings import Embeddings, read_embeddings
from rp_jupyter.formats.error_messages import error_message
from rp_jupyter.formats.images import (
    ImageRef,
    ImageSet,
    image_ref,
    open_image,
    read_images,
    register_resolver,
    resolve,
)
from rp_jupyter.formats.inputs import as_base64, b64, data_url
from rp_jupyter.formats.links import Link, find_links, mask_links_in, mask_url
from rp_jupyter.formats.progress import Progress, read_progress
from rp_jupyter.formats.reading import (
    Reading,
    job_embeddings,
    job_image_refs,
    job_text,
    output_preview,
    read,
    read_job,
    stream_preview,
)
from rp_jupyter.formats.replies import Reply, ReplyStream, Usage, is_reply_object, read_reply
from rp_jupyter.formats.sniff import looks_like_image
from rp_jupyter.formats.sse import SSEReader, starts_like_sse
from rp_jupyter.formats.tool_calls import ToolCall
from rp_jupyter.formats.transcripts import Cue, Transcript, parse_subtitles, read_transcript

__all__ = [
    "Cue",
    "Embeddings",
    "ImageRef",
    "ImageSet",
    "Link",
    "Progress",
    "Reading",
    "Reply",
    "ReplyStream",
    "SSEReader",
    "ToolCall",
    "Transcript",
    "Usage",
    "as_base64",
    "assemble_completion",
    "b64",
    "data_url",
    "error_message",
    "find_links",
    "image_ref",
    "is_reply_object",
    "job_embeddings",
    "job_image_refs",
    "job_text",
    "looks_like_image",
    "mask_links_in",
    "mask_url",
    "open_image",
    "output_preview",
    "parse_subtitles",
    "read",
    "read_embeddings",
    "read_images",
    "read_job",
    "read_progress",
    "read_reply",
    "read_transcript",
    "register_resolver",
    "resolve",
    "starts_like_sse",
    "stream_preview",
]
