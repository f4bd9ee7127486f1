"""User errors in magics: one clear message with a hint, and no internal traceback.

IPython shows a ``UsageError`` as its message only.  Subclassing ``UsageError`` is broken
(ipython#14024), so errors are built by :func:`usage_error`, as jupysql does.
"""

from __future__ import annotations

from IPython.core.error import UsageError

from rp_jupyter.api.errors import RunpodError

__all__ = ["HelpShown", "from_runpod_error", "usage_error"]


class HelpShown(Exception):
    """Raised after ``--help`` printed a command's help: the magic then returns quietly."""


def usage_error(message: str, hint: str | None = None) -> UsageError:
    """A ``UsageError`` whose text is the message and, on its own line, the hint.

    Text that cannot be printed (a lone surrogate from the cell) is shown escaped, so
    showing the error can never fail in turn.
    """
    text = f"{message}\nHint: {hint}" if hint else message
    return UsageError(_printable(text))


def _printable(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def from_runpod_error(error: RunpodError) -> UsageError:
    """Turn an rp_jupyter error into the one-message form magics show."""
    return usage_error(error.message, error.hint)
