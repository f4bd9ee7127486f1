"""Stand-in for worker-infinity-embedding ``src/config.py``."""

import os
from functools import cached_property


class EmbeddingServiceConfig:
    @cached_property
    def model_names(self) -> list[str]:
        model_names = os.environ.get("MODEL_NAMES")
        if not model_names:
            raise ValueError(
                "Missing required environment variable 'MODEL_NAMES'.\n"
                "Please provide at least one HuggingFace model ID, or multiple IDs separated "
                "by a semicolon.\n"
            )
        return [name for name in model_names.split(";") if name]

    @cached_property
    def runpod_max_concurrency(self) -> int:
        return int(os.environ.get("RUNPOD_MAX_CONCURRENCY", 300))
