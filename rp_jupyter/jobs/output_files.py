"""``SavedFile``: a file behind an output's link, as saved in the journal's folder when the
job ended (see :mod:`rp_jupyter.jobs.downloads`).  Pictures given as URLs are read from
here first, so ``job.images``, panels and saved notebooks keep them after the link dies.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from rp_jupyter import formats
from rp_jupyter.jobs.downloads import url_hash

if TYPE_CHECKING:
    from rp_jupyter.jobs.journal import JobJournal

__all__ = ["SavedFile", "saved_files", "use_saved_pictures"]


@dataclass(frozen=True)
class SavedFile:
    """One link of a job's output: ``url`` (its signature masked), where it sat in the
    output (``json_path``), and the saved copy (``path``; ``None`` with ``error`` saying
    why when it was not saved).

    Example::

        for f in job.files:
            print(f.json_path, f.size, f.content_type)
            f.image().save("out.png")
    """

    json_path: str
    url: str
    path: Path | None
    content_type: str | None
    size: int | None
    sha256: str | None
    fetched_at: float
    error: str | None

    @property
    def saved(self) -> bool:
        return self.path is not None and self.error is None

    def bytes(self) -> bytes:
        """The file's bytes; ``FileNotFoundError`` saying why when it was not saved."""
        if self.path is None:
            raise FileNotFoundError(f"{self.url} was not saved: {self.error}")
        return self.path.read_bytes()

    def open(self) -> BinaryIO:
        return io.BytesIO(self.bytes())

    def image(self) -> Any:
        """The file as a Pillow image."""
        from PIL import Image

        image = Image.open(self.open())
        image.load()
        return image

    def __repr__(self) -> str:
        what = f"{self.size} bytes" if self.saved else f"not saved: {self.error}"
        return f"<SavedFile {self.json_path} {self.url} ({what})>"


def saved_files(journal: JobJournal, key: int) -> list[SavedFile]:
    """The job's links and their saved copies (its latest attempt), in output order."""
    rows = journal.read(
        "SELECT * FROM output_files WHERE key = ? AND attempt = "
        "(SELECT MAX(attempt) FROM output_files WHERE key = ?) ORDER BY rowid", (key, key))
    return [_saved(journal, row) for row in rows]


def _saved(journal: JobJournal, row: Any) -> SavedFile:
    path = journal.path.parent / row["file"] if row["file"] else None
    return SavedFile(row["json_path"], row["url"], path, row["content_type"], row["size"],
                     row["sha256"], row["fetched_at"], row["error"])


_journals: list[JobJournal] = []
_journals_lock = threading.Lock()
_remove_resolver: Any = None


def use_saved_pictures(journal: JobJournal) -> None:
    """Read pictures given as URLs from ``journal``'s saved files when they are there."""
    global _remove_resolver
    with _journals_lock:
        if journal not in _journals:
            _journals.append(journal)
        if _remove_resolver is None:
            _remove_resolver = formats.register_resolver(_saved_picture)


def _saved_picture(ref: formats.ImageRef) -> bytes | None:
    if ref.kind != "url":
        return None
    digest = url_hash(ref.value)
    with _journals_lock:
        journals = [j for j in _journals if not j.closed]
    for journal in journals:
        try:
            rows = journal.read("SELECT file FROM output_files WHERE url_hash = ? AND "
                                "file IS NOT NULL ORDER BY fetched_at DESC", (digest,))
        except Exception:
            continue
        for row in rows:
            try:
                return (journal.path.parent / row["file"]).read_bytes()
            except OSError:
                continue
    return None
