"""Example handlers for the local endpoint; each module has a ``handler``.

- ``echo``: returns ``{"echo": input}``.
- ``tokens``: streams the words of a text, an LLM stand-in.
- ``images``: streams progressively refined PNG images.
- ``chaos``: slow, failing, hanging, crashing or streaming on request.
"""
