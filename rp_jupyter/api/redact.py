"""Secrets, and the one place that masks them.

:class:`Secret` wraps a value the user wants kept out of sight: the API key, the S3
credentials of ``s3_config``, or any input value (``{"token": rp_jupyter.Secret(t)}``).
It is revealed only in the request body sent to its endpoint.  :class:`Redactor` knows
every secret in play for an endpoint (its key, and the secrets of the requests sent through
it) and masks them in text (errors, log lines) and in JSON values (answers, errors a
server echoes back), so nothing that reaches the journal, a repr or a notebook holds one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["MASK", "MIN_MASKED_LENGTH", "Redactor", "Secret", "redact"]

MASK = "********"
#: Shorter secrets are masked where they stand in a request, but not searched for in free
#: text (a 2-letter secret would mask half of every message).
MIN_MASKED_LENGTH = 4


class Secret:
    """A string that never shows itself: ``repr`` and ``str`` print a mask.

    Wrap any input value in it to keep it out of the journal, reprs, errors, ``--dry-run``
    and saved notebooks; only the request sent to the endpoint carries the value.  Input
    reuse (``cache="use"``) compares secrets by a hash, never by the value.

    Example::

        >>> token = Secret("hf_123456")
        >>> token
        Secret('********')
        >>> token.reveal()
        'hf_123456'
        >>> # ep.run({"prompt": "hi", "hf_token": rp_jupyter.Secret(os.environ["HF_TOKEN"])})
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"Secret takes a string, not {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        """The value itself (for the request body; nowhere else)."""
        return self._value

    def digest(self) -> str:
        """A SHA-256 of the value: what input reuse compares."""
        return hashlib.sha256(self._value.encode("utf-8", "surrogatepass")).hexdigest()

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    __str__ = __repr__

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self):  # never pickled in clear
        raise TypeError("Secret values cannot be pickled")


class Redactor:
    """Every secret in play for one endpoint; masks them in text and in JSON values.

    Example::

        >>> r = Redactor(Secret("rpa_KEY123"))
        >>> r.add(Secret("s3-secret"))
        >>> r.text("rejected rpa_KEY123 and s3-secret")
        'rejected ******** and ********'
        >>> r.value({"error": "bad key s3-secret"})
        {'error': 'bad key ********'}
    """

    def __init__(self, *secrets: Secret | str | None) -> None:
        self._values: set[str] = set()
        self._forms: list[str] = []  # every spelling to search for, longest first
        self.add(*secrets)

    def add(self, *secrets: Secret | str | None) -> None:
        """Know these secrets too (``None`` and short ones are ignored)."""
        fresh = False
        for secret in secrets:
            value = secret.reveal() if isinstance(secret, Secret) else secret
            if value and len(value) >= MIN_MASKED_LENGTH and value not in self._values:
                self._values.add(value)
                fresh = True
        if fresh:
            forms = set()
            for value in self._values:
                forms.add(value)
                forms.add(json.dumps(value)[1:-1])  # as it stands inside JSON text
                forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
                forms.add(repr(value)[1:-1])  # inside a Python repr
            self._forms = sorted((f for f in forms if f), key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def text(self, text: str) -> str:
        """``text`` with every secret masked."""
        if not self._forms or not isinstance(text, str):
            return text
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def value(self, value: Any) -> Any:
        """A JSON value with every secret masked in its strings and keys; ``value`` itself
        (not a copy) when it holds none."""
        if not self._forms:
            return value
        try:
            dumped = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            return value
        if not any(form in dumped for form in self._forms):
            return value
        try:
            return self._mask(value)
        except RecursionError:
            return self.text(dumped)

    def _mask(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self._mask(v)
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self._mask(item) for item in value]
        return value


def redact(text: str, *secrets: Secret | str | None) -> str:
    """Replace every occurrence of the given secrets in ``text`` with a mask."""
    return Redactor(*secrets).text(text)
