"""A seeded word generator standing in for a language model's sampling, for ``llm``.

The same prompt, seed and temperature always give the same tokens; another seed or
temperature gives other words (at temperature 0 the seed does not matter, as with greedy
decoding).  Tokens are words with a leading space, commas and full stops, so joining them
gives readable sentences.

Example::

    tokens, finish = generate("Tell me about rivers", max_tokens=20, temperature=0.7, seed=1)
    "".join(tokens)    # 'Rivers carry the quiet signal of ...'
"""

from __future__ import annotations

import random
import re

_WORDS = (
    "the a river mountain signal engine garden lantern harbor meadow circuit thunder ember "
    "light stone water forest city road morning evening window story question answer "
    "model token worker queue notebook stream result prompt endpoint image sound voice "
    "bright quiet rapid gentle curious bold silver golden hidden ancient swift calm small "
    "large simple careful patient steady clear warm cold early late open narrow "
    "carries follows builds listens returns unfolds finds keeps turns holds brings shows "
    "moves waits grows learns answers explains and but so because while when then also "
    "often always never here there together slowly quickly again"
)
VOCABULARY = tuple(_WORDS.split())
_WORD = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """A stand-in tokenizer's count: words and punctuation marks."""
    return len(_WORD.findall(text))


def _rng(prompt: str, temperature: float, seed: object, index: int) -> random.Random:
    if temperature <= 0:
        return random.Random(f"greedy|{prompt}|{index}")
    return random.Random(f"{seed}|{temperature:g}|{prompt}|{index}")


def natural_length(prompt: str, temperature: float, seed: object, index: int = 0) -> int:
    """How many tokens the reply has when nothing cuts it short (60 to 240)."""
    return _rng(prompt, temperature, seed, index).randint(60, 240)


def generate(prompt: str, max_tokens: int | None, temperature: float = 1.0,
             seed: object = 0, index: int = 0) -> tuple[list[str], str]:
    """The reply's tokens and its finish reason (``"stop"``, or ``"length"`` when
    ``max_tokens`` cut it short).  ``index`` picks one of several choices (``n``)."""
    rng = _rng(prompt, temperature, seed, index)
    natural = rng.randint(60, 240)
    limit = natural if max_tokens is None else max(0, min(natural, int(max_tokens)))
    own = [w.lower() for w in re.findall(r"[A-Za-z]{3,}", prompt)]
    words = list(VOCABULARY) + own
    tokens: list[str] = []
    sentence = 0
    while len(tokens) < limit:
        word = rng.choice(words)
        if sentence == 0:
            word = word.capitalize()
        tokens.append(word if not tokens else " " + word)
        sentence += 1
        if len(tokens) >= limit:
            break
        if sentence >= 4 and rng.random() < 0.12:
            tokens.append(",")
        elif sentence >= 6 and rng.random() < 0.2:
            tokens.append(".")
            sentence = 0
    tokens = tokens[:limit]
    finish = "length" if limit < natural else "stop"
    if finish == "stop" and len(tokens) > 1:
        tokens[-1] = "."
    return tokens, finish
