"""What a huge request header costs the local endpoint: its peak memory and the answer.

Starts ``rp-jupyter serve echo`` in a child process for each HTTP parser, sends one
request whose header is 8 MiB and one whose header is 64 MiB (in 64 KiB pieces, stopping
when the server answers or closes), and reads the server's peak resident memory
(``VmHWM``) before and after.  A server that refuses the head early answers 431 after the
first pieces and its peak does not move; one that buffers the header grows by its size.

    .venv/bin/python bench/header_memory.py [--parsers h11,httptools]

Prints a table and writes ``bench/results/header_memory.json``.  (``--parsers auto`` runs
without the ``--http`` flag, for servers that do not have it.)
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import format_table, write_result  # noqa: E402

PIECE = 64 * 1024
SIZES_MIB = (8, 64)


def peak_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", text).group(1))


def start(parser: str) -> tuple[subprocess.Popen[str], int]:
    args = [sys.executable, "-m", "rp_jupyter.local.cli", "serve", "echo", "--port", "0",
            "--workers", "0"]
    if parser != "auto":
        args += ["--http", parser]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT),
                                                        os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env)
    for line in proc.stdout:
        found = re.search(r"127\.0\.0\.1:(\d+)/v2", line)
        if found:
            return proc, int(found.group(1))
    raise RuntimeError("the server did not start")


def send_header(port: int, size: int) -> tuple[int, str]:
    """Send a request with a ``size``-byte header; bytes sent and the answer's status."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /v2/local/health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        piece = b"a" * PIECE
        try:
            while sent < size:
                sock.sendall(piece)
                sent += PIECE
            sock.sendall(b"\r\n\r\n")
        except OSError:
            pass  # refused and closed while we were still sending
        try:
            answer = sock.recv(200)
        except OSError as err:
            answer = type(err).__name__.encode()
    status = answer.split(b"\r\n", 1)[0].decode("latin-1") or "(closed, no answer)"
    return sent, status


def measure(parser: str) -> list[dict[str, object]]:
    proc, port = start(parser)
    rows = []
    try:
        for mib in SIZES_MIB:
            before = peak_kib(proc.pid)
            sent, status = send_header(port, mib * 1024 * 1024)
            after = peak_kib(proc.pid)
            alive = proc.poll() is None
            rows.append({"parser": parser, "header MiB": mib, "sent MiB": round(sent / 2**20, 1),
                         "answer": status, "peak before MiB": round(before / 1024, 1),
                         "peak after MiB": round(after / 1024, 1),
                         "growth MiB": round((after - before) / 1024, 1),
                         "server up": alive})
    finally:
        proc.terminate()
        proc.wait(20)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parsers", default="h11,httptools",
                        help="comma-separated: h11, httptools, auto (default h11,httptools)")
    args = parser.parse_args()
    rows = [row for kind in args.parsers.split(",") for row in measure(kind.strip())]
    columns = list(rows[0])
    print(format_table(columns, [[row[c] for c in columns] for row in rows]))
    path = write_result("header_memory", {"rows": rows})
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
