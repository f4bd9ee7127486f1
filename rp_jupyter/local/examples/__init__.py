"""Example handlers for the local endpoint; each module has a ``handler``.

- ``echo``: returns ``{"echo": input}``.
- ``tokens``: streams the words of a text, an LLM stand-in.
- ``images``: streams progressively refined PNG images.
- ``chaos``: slow, failing, hanging, crashing or streaming on request.
- ``llm``: the vLLM worker's inputs and output shapes (native batches, OpenAI objects
  and SSE text), with deterministic fake tokens.
- ``imagegen``: ComfyUI- and SDXL-shaped image outputs, with progress updates.
- ``transcribe``: faster-whisper-shaped transcripts (segments, SRT, VTT).
- ``embed``: infinity-embedding-shaped embeddings, rerank and model list.

The last four stand in for official Runpod workers; each also runs as a real
runpod-python worker (``python -m rp_jupyter.local.examples.llm``), and declares what that
worker passes to ``runpod.serverless.start`` besides its handler in ``WORKER_CONFIG``
where it passes more.
"""
