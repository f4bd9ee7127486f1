"""The user's Runpod key stays on the client side: a handler run by ``%runpod local`` finds
neither ``RUNPOD_API_KEY`` nor the ``%runpod login`` key in its environment, and this
kernel's open local endpoints are sent no key at all."""

from __future__ import annotations

import getpass

import pytest

LOGIN_KEY = "rpa_LOGINKEY_only_for_runpod_0123456789"
ENV_KEY = "rpa_ENVKEY_only_for_runpod_9876543210"
ENV_HANDLER = "import os\ndef env_of(job):\n    return {'env': dict(os.environ)}"


@pytest.fixture
def logged_in(ip, monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", ENV_KEY)
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": LOGIN_KEY)
    assert ip.run("%runpod login").error is None
    yield ip
    ip.run("%runpod local --stop")


def test_a_notebook_handlers_worker_has_no_runpod_key_in_its_environment(logged_in):
    ip = logged_in
    ip.run(ENV_HANDLER)
    assert ip.run("%runpod local env_of").error is None
    run = ip.run("%%runpod run\n{}")
    assert run.error is None, run.stderr
    output = run.value.result(timeout=30)
    env = output["env"]
    assert "RUNPOD_API_KEY" not in env
    assert not [name for name, value in env.items() if LOGIN_KEY in value or ENV_KEY in value]


def test_a_named_handlers_worker_has_no_runpod_key_either(logged_in):
    ip = logged_in
    assert ip.run("%runpod local tests.local.handlers:environment --id named").error is None
    run = ip.run("%%runpod run named\n{}")
    env = run.value.result(timeout=30)["env"]
    assert not [name for name, value in env.items() if LOGIN_KEY in value or ENV_KEY in value]


def test_this_kernels_local_endpoint_is_sent_no_key(logged_in):
    ip = logged_in
    ip.run("%runpod local echo")
    dry = repr(ip.run("%%runpod run --dry-run\n{}").value)
    assert "(no Authorization header)" in dry
    assert not ip.magics.endpoint("echo").has_api_key
