"""Stand-in for worker-infinity-embedding ``src/embedding_service.py``: the engines are the
``embed`` example's vectors, each call taking ``EMBED_LATENCY`` seconds (an engine batch)."""

import asyncio
import os

from config import EmbeddingServiceConfig
from rp_jupyter.local.examples import embed


class EmbeddingService:
    def __init__(self):
        self.config = EmbeddingServiceConfig()
        self.models = self.config.model_names
        embed.MODELS[:] = self.models
        self.latency = float(os.environ.get("EMBED_LATENCY", "0"))

    async def route_openai_models(self):
        return embed.models()

    async def route_openai_get_embeddings(self, embedding_input, model_name,
                                          return_as_list=False):
        await asyncio.sleep(self.latency)
        result = embed.embeddings(embedding_input, model_name)
        return [result] if return_as_list else result

    async def infinity_rerank(self, query, docs, return_docs, model_name):
        await asyncio.sleep(self.latency)
        return embed.rerank(query, docs, bool(return_docs), model_name)
