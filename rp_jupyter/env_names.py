"""Every environment variable rp_jupyter reads, or sets for the workers it starts, by name.

A neutral module (no imports): the client, the engine, the notebook and the local endpoint
name a variable through a constant here, never a string of their own, so a search for one
constant finds every place that reads or sets it.

Example::

    import os
    from rp_jupyter.env_names import API_KEY_ENV

    key = os.environ.get(API_KEY_ENV)          # RUNPOD_API_KEY
"""

from __future__ import annotations

# -- What a user sets for the client ---------------------------------------------------------

#: The Runpod API key (reference/runpod-api.md section 1).
API_KEY_ENV = "RUNPOD_API_KEY"
#: The job API's base URL, as runpod-python reads it; default https://api.runpod.ai/v2.
BASE_URL_ENV = "RUNPOD_ENDPOINT_BASE_URL"
#: The endpoint a magic uses when none is named; a worker also gets its own endpoint's id
#: under this name (runpod-python reads it).
ENDPOINT_ID_ENV = "RUNPOD_ENDPOINT_ID"
#: The folder that holds the journal (journal.sqlite3); default the user data folder.
HOME_ENV = "RP_JUPYTER_HOME"
#: ``1`` makes every cell wait for its job, ``0`` none.
BLOCK_ENV = "RP_JUPYTER_BLOCK"
#: The cache mode of the magics (``off``, ``use``, ...).
CACHE_ENV = "RP_JUPYTER_CACHE"
#: ``0`` stops saving the files behind an output's links when a job ends.
SAVE_OUTPUTS_ENV = "RP_JUPYTER_SAVE_OUTPUTS"
#: The largest file saved from an output's links, in MB.
SAVE_MAX_MB_ENV = "RP_JUPYTER_SAVE_MAX_MB"
#: Hosts whose links are never saved (comma-separated).
SAVE_EXCLUDE_HOSTS_ENV = "RP_JUPYTER_SAVE_EXCLUDE_HOSTS"
#: The journal's limits: oldest job kept (days), most jobs kept, largest size (MB).
MAX_AGE_DAYS_ENV = "RP_JUPYTER_MAX_AGE_DAYS"
MAX_JOBS_ENV = "RP_JUPYTER_MAX_JOBS"
MAX_MB_ENV = "RP_JUPYTER_MAX_MB"
#: The notebook's path, set by Jupyter Server for its kernels (read, never set).
JUPYTER_SESSION_ENV = "JPY_SESSION_NAME"

# -- The local endpoint ----------------------------------------------------------------------

#: The key ``rp-jupyter serve`` requires when no ``--api-key`` is given.
LOCAL_API_KEY_ENV = "RP_JUPYTER_LOCAL_API_KEY"
#: A local worker process's settings (JSON), set by the server that starts it.
LOCAL_WORKER_ENV = "RP_JUPYTER_LOCAL_WORKER"
#: Where a worker process finds a handler's folder.
PYTHONPATH_ENV = "PYTHONPATH"

# -- Set for workers: runpod-python's worker protocol (reference section 6.4) ---------------

#: The endpoint's key as a worker sends it to the platform (raw, no ``Bearer``).
WORKER_API_KEY_ENV = "RUNPOD_AI_API_KEY"
WEBHOOK_GET_JOB_ENV = "RUNPOD_WEBHOOK_GET_JOB"
WEBHOOK_POST_OUTPUT_ENV = "RUNPOD_WEBHOOK_POST_OUTPUT"
WEBHOOK_POST_STREAM_ENV = "RUNPOD_WEBHOOK_POST_STREAM"
WEBHOOK_PING_ENV = "RUNPOD_WEBHOOK_PING"
#: The worker's id; the webhook URLs above hold ``$RUNPOD_POD_ID`` for it.
POD_ID_ENV = "RUNPOD_POD_ID"
POD_HOSTNAME_ENV = "RUNPOD_POD_HOSTNAME"
SKIP_AUTO_SYSTEM_CHECKS_ENV = "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS"
#: runpod-python's log level; ``RUNPOD_DEBUG_LEVEL`` is its older name.
LOG_LEVEL_ENV = "RUNPOD_LOG_LEVEL"
DEBUG_LEVEL_ENV = "RUNPOD_DEBUG_LEVEL"

# -- Read by the example workers, as the real workers they imitate read them -----------------

#: worker-vllm: the served model's name, its override, how many jobs at once, and whether
#: streamed output is raw SSE text.
MODEL_NAME_ENV = "MODEL_NAME"
SERVED_MODEL_NAME_ENV = "OPENAI_SERVED_MODEL_NAME_OVERRIDE"
MAX_CONCURRENCY_ENV = "MAX_CONCURRENCY"
RAW_OPENAI_OUTPUT_ENV = "RAW_OPENAI_OUTPUT"
#: The ``llm`` example's seconds between tokens.
LLM_TOKEN_DELAY_ENV = "LLM_TOKEN_DELAY"
#: worker-infinity-embedding: the models served (``;``-separated), how many jobs at once.
MODEL_NAMES_ENV = "MODEL_NAMES"
RUNPOD_MAX_CONCURRENCY_ENV = "RUNPOD_MAX_CONCURRENCY"

#: Variables that hold a client's key, kept out of every worker's environment.
CLIENT_KEY_ENVS = (API_KEY_ENV, LOCAL_API_KEY_ENV, WORKER_API_KEY_ENV)
