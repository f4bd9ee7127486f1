"""User errors in magics: one clear message with a hint, and no internal traceback.

IPython shows a ``UsageError`` as its message only.  Subclassing ``UsageError`` is broken
(ipython#14024), so errors are built by :func:`usage_error`, as jupysql does.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from rp_jupyter.api.errors import RunpodError

__all__ = [
    "HelpShown",
    "JobInterrupted",
    "from_runpod_error",
    "install_interrupt_display",
    "uninstall_interrupt_display",
    "usage_error",
]


class HelpShown(Exception):
    """Raised after ``--help`` printed a command's help: the magic then returns quietly."""


class JobInterrupted(KeyboardInterrupt):
    """Ctrl-C (or the stop button) ended a blocking cell; the message says what was cancelled,
    or how to find the job.  Still a ``KeyboardInterrupt``, so a "Run all" stops there, but
    shown as that one line instead of a traceback (see :func:`install_interrupt_display`)."""


def _one_line(shell: Any, etype: type, value: BaseException, tb: Any,
              tb_offset: int | None = None) -> list[str]:
    """IPython's custom-exception hook for :class:`JobInterrupted`: show the message alone."""
    stb = [str(value)]
    shell._showtraceback(KeyboardInterrupt, value, stb)
    return stb


def install_interrupt_display(shell: Any) -> None:
    """Show an interrupted cell as its one line, unless the shell already has another custom
    exception handler (then IPython shows its usual traceback)."""
    if not shell.custom_exceptions:
        shell.set_custom_exc((JobInterrupted,), _one_line)


def uninstall_interrupt_display(shell: Any) -> None:
    if shell.custom_exceptions == (JobInterrupted,):
        shell.set_custom_exc((), None)


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


#: Hints of the Python API said in magic syntax when a magic shows them.
MAGIC_HINTS = (
    ("use job.rerun() to submit", "%runpod rerun JOB submits"),
    ("retry it with job.retry()", "retry it with %runpod retry JOB"),
    ("call result() again, or cancel() it", "%runpod result JOB later, or %runpod cancel JOB"),
    ("attach it with rp_jupyter.Endpoint(endpoint_id, ...).job(job_id)",
     "name its endpoint (%runpod endpoint ID, or %runpod local ... --id ID), then use the job id"),
    ("attach jobs submitted elsewhere with Endpoint(endpoint_id).job(job_id)",
     "%runpod status JOB_ID follows a job submitted elsewhere"),
    ("pass Endpoint(..., api_key=...), or run %runpod login", "or run %runpod login"),
)


def in_magic_syntax(hint: str | None) -> str | None:
    """``hint`` with the Python calls it names said as the ``%runpod`` commands to type."""
    if hint:
        for python, magic in MAGIC_HINTS:
            hint = hint.replace(python, magic)
    return hint


def from_runpod_error(error: RunpodError) -> UsageError:
    """Turn an rp_jupyter error into the one-message form magics show, hints in magic
    syntax."""
    return usage_error(error.message, in_magic_syntax(error.hint))
