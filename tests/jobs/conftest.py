"""Fixtures shared by the tests of replies from the OpenAI route."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rp_jupyter.local import LocalEndpoint
from tests.client_support import start_local


@pytest.fixture(scope="module")
def llm_server() -> Iterator[LocalEndpoint]:
    """The ``llm`` example handler (a vLLM stand-in) as endpoint ``llm``, for one module."""
    server = start_local("llm", endpoint_id="llm", workers=1)
    yield server
    server.stop()
