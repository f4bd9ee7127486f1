"""Saving the files behind an output's links into the journal's folder when a job ends.

Presigned S3 URLs (``rp_upload``: 7 days) and public endpoints' result URLs stop working;
the file is fetched once, when the job ends, on a thread of its own (``job.result()`` does
not wait for it), streamed with the size cap enforced while reading, by a plain client that
sends no Runpod key.  Each link gets an ``output_files`` row (the URL with its signature
masked, size, sha256, the file, or the error); a download that fails is journaled, never
raised.  Settings: ``RP_JUPYTER_SAVE_OUTPUTS`` (``0`` turns it off),
``RP_JUPYTER_SAVE_MAX_MB`` (per file), ``RP_JUPYTER_SAVE_EXCLUDE_HOSTS`` (comma-separated),
or :func:`configure_downloads`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
import urllib.parse
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from rp_jupyter import formats
from rp_jupyter.env_names import SAVE_EXCLUDE_HOSTS_ENV, SAVE_MAX_MB_ENV, SAVE_OUTPUTS_ENV

if TYPE_CHECKING:
    from rp_jupyter.jobs.journal import JobJournal

__all__ = ["DownloadSettings", "configure_downloads", "download_settings", "save_files",
           "start_saving", "wait_saved"]

log = logging.getLogger("rp_jupyter.jobs")

FILES_DIR = "files"
_CHUNK = 1 << 16


@dataclass(frozen=True)
class DownloadSettings:
    """What is saved: ``enabled``; ``max_file_mb`` per file and ``max_job_mb`` per job
    (a larger file is not saved, its row says why); hosts never fetched from (a host also
    covers its subdomains); the ``timeout`` per file in seconds; redirects followed."""

    enabled: bool = True
    max_file_mb: float = 50.0
    max_job_mb: float = 200.0
    exclude_hosts: tuple[str, ...] = ()
    timeout: float = 60.0
    max_redirects: int = 5

    def excludes(self, url: str) -> bool:
        host = (urllib.parse.urlsplit(url).hostname or "").lower()
        return any(host == h or host.endswith("." + h) for h in self.exclude_hosts)


_configured: dict[str, Any] = {}
_lock = threading.Lock()
_pending: dict[tuple[str, int], threading.Event] = {}


def configure_downloads(**changes: Any) -> DownloadSettings:
    """Change what is saved when jobs end (for this process; the environment gives the
    defaults).  Example: ``rp_jupyter.configure_downloads(max_file_mb=10,
    exclude_hosts=["internal.example"])``; ``enabled=False`` turns saving off."""
    known = {f.name for f in fields(DownloadSettings)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise TypeError(f"configure_downloads: unknown setting(s) {', '.join(unknown)}; "
                        f"known: {', '.join(sorted(known))}")
    if "exclude_hosts" in changes:
        hosts = changes["exclude_hosts"]
        hosts = hosts.split(",") if isinstance(hosts, str) else hosts
        changes["exclude_hosts"] = tuple(h.strip().lower() for h in hosts if h.strip())
    for name in ("max_file_mb", "max_job_mb", "timeout"):
        if name in changes and not float(changes[name]) > 0:
            raise ValueError(f"configure_downloads: {name} must be above 0")
    with _lock:
        _configured.update(changes)
    return download_settings()


def download_settings() -> DownloadSettings:
    """The settings now: the environment's, then what :func:`configure_downloads` set."""
    env: dict[str, Any] = {}
    switch = os.environ.get(SAVE_OUTPUTS_ENV, "").strip().lower()
    if switch:
        env["enabled"] = switch not in ("0", "false", "no", "off")
    cap = os.environ.get(SAVE_MAX_MB_ENV, "").strip()
    if cap:
        try:
            env["max_file_mb"] = float(cap)
        except ValueError:
            log.warning("%s=%r is not a number; using %s", SAVE_MAX_MB_ENV, cap,
                        DownloadSettings.max_file_mb)
    hosts = os.environ.get(SAVE_EXCLUDE_HOSTS_ENV, "")
    if hosts.strip():
        env["exclude_hosts"] = tuple(h.strip().lower() for h in hosts.split(",") if h.strip())
    with _lock:
        return replace(DownloadSettings(), **{**env, **_configured})


def start_saving(journal: JobJournal, key: int, attempt: int, output: Any) -> None:
    """Save the files behind ``output``'s links on a thread of its own (nothing to do
    when saving is off or the output has no link)."""
    settings = download_settings()
    if not settings.enabled:
        return
    links = formats.find_links(output)
    if not links:
        return
    done = threading.Event()
    with _lock:
        _pending[(str(journal.path), key)] = done

    def run() -> None:
        try:
            save_files(journal, key, attempt, links, settings)
        except Exception:  # a journal closing under us: the output itself is kept
            log.exception("could not save the files of job %s", key)
        finally:
            done.set()
            with _lock:
                if _pending.get((str(journal.path), key)) is done:
                    del _pending[(str(journal.path), key)]

    threading.Thread(target=run, name=f"rp_jupyter-save-{key}", daemon=True).start()


def wait_saved(journal: JobJournal, key: int, timeout: float | None) -> bool:
    """Wait until the job's files are saved (True), or ``timeout`` seconds (False)."""
    with _lock:
        done = _pending.get((str(journal.path), key))
    return True if done is None else done.wait(timeout)


def save_files(journal: JobJournal, key: int, attempt: int, links: list[formats.Link],
               settings: DownloadSettings) -> None:
    """Fetch each link in turn and journal what came of it."""
    folder = journal.path.parent / FILES_DIR
    budget = int(settings.max_job_mb * 1024 * 1024)
    with httpx.Client(follow_redirects=True, max_redirects=settings.max_redirects,
                      timeout=settings.timeout, trust_env=False) as client:
        for link in links:
            row: dict[str, Any] = {"content_type": None, "size": None, "sha256": None,
                                   "file": None, "error": None}
            if settings.excludes(link.url):
                row["error"] = "host excluded"
            else:
                cap = min(int(settings.max_file_mb * 1024 * 1024), budget)
                try:
                    row.update(_fetch(client, link.url, folder, cap, settings.timeout))
                    budget -= row["size"]
                except _NotSaved as exc:
                    row["error"] = str(exc)
                except (httpx.HTTPError, OSError) as exc:
                    row["error"] = _reason(exc)
            if row["error"]:
                log.info("job %s: %s not saved (%s)", key, link.masked, row["error"])
            _journal_row(journal, key, attempt, link, row)


class _NotSaved(Exception):
    pass


def _fetch(client: httpx.Client, url: str, folder: Path, cap: int,
           timeout: float) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    digest = hashlib.sha256()
    size = 0
    part = folder / f".part-{os.getpid()}-{threading.get_ident()}"
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise _NotSaved(f"HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise _NotSaved(f"larger than the cap ({int(declared)} > {cap} bytes)")
            with open(part, "wb") as out:
                for chunk in response.iter_bytes(_CHUNK):
                    size += len(chunk)
                    if size > cap:
                        raise _NotSaved(f"larger than the cap ({cap} bytes)")
                    if time.monotonic() > deadline:
                        raise _NotSaved(f"took longer than {timeout:g} s")
                    digest.update(chunk)
                    out.write(chunk)
            content_type = response.headers.get("content-type")
        sha = digest.hexdigest()
        name = sha + _suffix(url)
        part.replace(folder / name)
        return {"content_type": content_type, "size": size, "sha256": sha,
                "file": f"{FILES_DIR}/{name}"}
    finally:
        part.unlink(missing_ok=True)


def _suffix(url: str) -> str:
    suffix = Path(urllib.parse.urlsplit(url).path).suffix.lower()
    return suffix if suffix.isascii() and 1 < len(suffix) <= 6 and suffix[1:].isalnum() else ""


def _reason(exc: BaseException) -> str:
    """Why a fetch failed, without the URL (an httpx message may quote it whole)."""
    return type(exc).__name__


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def _journal_row(journal: JobJournal, key: int, attempt: int, link: formats.Link,
                 row: dict[str, Any]) -> None:
    values = (key, attempt, link.path, link.masked, url_hash(link.url), row["content_type"],
              row["size"], row["sha256"], row["file"], time.time(), row["error"])

    def op(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT OR REPLACE INTO output_files VALUES "
                     "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)

    journal.write(op).result(timeout=30)
