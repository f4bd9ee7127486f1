"""``rp-jupyter serve``: run a local Runpod-compatible endpoint from the command line.

Example::

    rp-jupyter serve tokens --workers 2
    rp-jupyter serve --endpoint a=echo --endpoint b=path/to/handler.py:handler --port 0
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from rp_jupyter.env_names import API_KEY_ENV, BASE_URL_ENV, ENDPOINT_ID_ENV, LOCAL_API_KEY_ENV
from rp_jupyter.local.endpoint_settings import MAX_HEADER_BYTES, MAX_HEADERS, EndpointSettings
from rp_jupyter.local.handler_spec import EXAMPLES
from rp_jupyter.wire_rules import MAX_JSON_DEPTH, MiB

DESCRIPTION = """\
Serve a local Runpod-compatible endpoint: the job API (/run, /runsync, /status,
/status-sync, /stream, /cancel, /retry, /purge-queue, /health) under /v2/ENDPOINT_ID,
with the handler running in worker processes.

HANDLER is path/to/file.py[:name], module:name (name defaults to 'handler'), or one of
the examples: {examples}.
A runpod worker script is served unchanged: the handler and config it passes to
runpod.serverless.start are used, wherever it calls it (--runpod-worker runs it under
runpod-python itself).  The OpenAI-compatible route is under /v2/ENDPOINT_ID/openai/v1.

API key: --api-key KEY, --api-key-env VAR, or the environment variable
{key_env}; the key is never printed.  Without one the endpoint is open
(it listens on loopback unless --host says otherwise).

Limits: a request line and headers over --max-header-bytes (default {header_bytes}) or more
than --max-headers headers (default {headers}) are answered 431; a body over its route's
limit (--max-run-body, --max-runsync-body; 1 MiB elsewhere) is answered 413 as soon as its
Content-Length says so, before any of it is read; JSON nested more than {depth} levels is a
400.  With a key set, an unknown endpoint id is answered like a wrong key (401).
"""


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rp-jupyter")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="serve a local Runpod-compatible endpoint",
        description=DESCRIPTION.format(examples=", ".join(EXAMPLES), key_env=LOCAL_API_KEY_ENV,
                                       header_bytes=MAX_HEADER_BYTES, headers=MAX_HEADERS,
                                       depth=MAX_JSON_DEPTH),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("handler", nargs="?", help="the handler of the endpoint")
    serve.add_argument("--endpoint-id", default="local", help="endpoint id (default: local)")
    serve.add_argument("--endpoint", action="append", default=[], metavar="ID=HANDLER",
                       help="host another endpoint (repeatable)")
    serve.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000,
                       help="port (default: 8000; 0 = any free port)")
    serve.add_argument("--workers", type=_count, default=1,
                       help="workers per endpoint (0: none allowed, as max workers 0)")
    keys = serve.add_mutually_exclusive_group()
    keys.add_argument("--api-key", metavar="KEY",
                      help="require this API key (other users can see a command line: "
                      f"prefer --api-key-env or {LOCAL_API_KEY_ENV})")
    keys.add_argument("--api-key-env", metavar="VAR",
                      help=f"require the API key held in environment variable VAR "
                      f"(default: {LOCAL_API_KEY_ENV}, when set)")
    serve.add_argument("--runpod-worker", action="store_true",
                       help="run the HANDLER script as it is ('python worker.py') as a "
                            "runpod-python worker pulling jobs through the worker protocol; "
                            "prints the environment it is given")
    serve.add_argument("--aggregate-stream", action="store_true",
                       help="return_aggregate_stream: a generator's output is all its yields")
    serve.add_argument("--cold-start", type=_seconds, default=0.0, metavar="S",
                       help="seconds each worker spends initializing")
    serve.add_argument("--throttled", type=_count, default=0, metavar="N",
                       help="simulate N of the workers throttled (no GPU capacity)")
    serve.add_argument("--unhealthy", type=_count, default=0, metavar="N",
                       help="simulate N of the workers unhealthy (crash-looping)")
    hosted = EndpointSettings  # the defaults are the hosted API's (wire_rules)
    for flag, field, kind, what in (
        ("--run-retention", "run_retention", _seconds, "seconds a /run result is kept"),
        ("--sync-retention", "sync_retention", _seconds, "seconds a /runsync result is kept"),
        ("--execution-timeout", "default_execution_timeout", _seconds,
         "default execution timeout"),
        ("--runsync-wait", "runsync_default_wait", _seconds, "default /runsync wait"),
        ("--long-poll-max", "long_poll_max", _seconds, "longest /status-sync and /stream wait"),
        ("--stream-hold", "stream_hold", _seconds, "how long /stream without ?wait= holds"),
        ("--min-ttl", "min_ttl", _seconds, "smallest accepted policy.ttl"),
        ("--min-execution-timeout", "min_execution_timeout", _seconds,
         "smallest accepted policy.executionTimeout"),
        ("--webhook-retries", "webhook_retries", int, "webhook tries after the first"),
        ("--webhook-retry-delay", "webhook_retry_delay", _seconds,
         "seconds between webhook tries"),
        ("--webhook-timeout", "webhook_timeout", _seconds,
         "seconds to wait for a webhook receiver"),
    ):
        default = getattr(hosted, field)
        serve.add_argument(flag, type=kind, default=default, metavar="N" if kind is int else "S",
                           help=f"{what} (default {default:g})")
    limits = serve.add_mutually_exclusive_group()
    limits.add_argument("--rate-scale", type=float, default=1.0, metavar="X",
                        help="multiply every documented rate limit by X")
    limits.add_argument("--no-rate-limits", action="store_true", help="switch rate limits off")
    serve.add_argument("--max-run-body", type=int, default=hosted.max_run_body,
                       metavar="BYTES",
                       help=f"largest /run body (default {hosted.max_run_body // MiB} MiB)")
    serve.add_argument("--max-runsync-body", type=int, default=hosted.max_runsync_body,
                       metavar="BYTES",
                       help=f"largest /runsync body (default {hosted.max_runsync_body // MiB} MiB)")
    serve.add_argument("--ready-timeout", type=_seconds, default=60.0, metavar="S",
                       help="how long to wait for the workers to start (default 60)")
    serve.add_argument("--http", choices=("auto", "h11", "httptools"), default="auto",
                       help="HTTP parser (default auto: httptools when installed)")
    serve.add_argument("--max-header-bytes", type=int, default=MAX_HEADER_BYTES,
                       metavar="BYTES", help="largest request line and headers (default "
                       f"{MAX_HEADER_BYTES})")
    serve.add_argument("--max-headers", type=int, default=MAX_HEADERS, metavar="N",
                       help=f"most headers in a request (default {MAX_HEADERS})")
    return parser


def settings_of(args: argparse.Namespace, api_key: str | None) -> dict[str, Any]:
    """The EndpointSettings keyword arguments the command line asks for."""
    return {
        "workers": args.workers,
        "api_key": api_key,
        "return_aggregate_stream": args.aggregate_stream,
        "cold_start": args.cold_start,
        "throttled": args.throttled,
        "unhealthy": args.unhealthy,
        "run_retention": args.run_retention,
        "sync_retention": args.sync_retention,
        "default_execution_timeout": args.execution_timeout,
        "runsync_default_wait": args.runsync_wait,
        "long_poll_max": args.long_poll_max,
        "stream_hold": args.stream_hold,
        "min_ttl": args.min_ttl,
        "min_execution_timeout": args.min_execution_timeout,
        "webhook_retries": args.webhook_retries,
        "webhook_retry_delay": args.webhook_retry_delay,
        "webhook_timeout": args.webhook_timeout,
        "rate_limits": "off" if args.no_rate_limits else None,
        "rate_scale": args.rate_scale,
        "max_run_body": args.max_run_body,
        "max_runsync_body": args.max_runsync_body,
        "runpod_worker": args.runpod_worker,
    }


def _endpoints(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if args.handler:
        found.append((args.endpoint_id, args.handler))
    for item in args.endpoint:
        endpoint_id, sep, handler = item.partition("=")
        if not sep or not endpoint_id or not handler:
            parser.error(f"--endpoint expects ID=HANDLER, got {item!r}")
        found.append((endpoint_id, handler))
    if not found:
        parser.error("give a HANDLER or at least one --endpoint ID=HANDLER")
    return found


def serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from rp_jupyter.local.server import LocalServer

    api_key = args.api_key
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            parser.error(f"environment variable {args.api_key_env} is not set")
    elif api_key is None and os.environ.get(LOCAL_API_KEY_ENV):
        api_key, args.api_key_env = os.environ[LOCAL_API_KEY_ENV], LOCAL_API_KEY_ENV
    try:
        server = LocalServer(host=args.host, port=args.port, http=args.http,
                             max_header_bytes=args.max_header_bytes,
                             max_headers=args.max_headers)
    except ValueError as err:
        print(f"rp-jupyter: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"rp-jupyter: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1
    try:
        for endpoint_id, handler in _endpoints(args, parser):
            server.add_endpoint(endpoint_id, handler, **settings_of(args, api_key))
    except (ValueError, TypeError) as err:
        print(f"rp-jupyter: {err}", file=sys.stderr)
        return 2
    server.start()
    try:
        for handle in server.endpoints.values():
            handle.wait_ready(timeout=args.ready_timeout + args.cold_start)
    except (RuntimeError, TimeoutError) as err:
        print(f"rp-jupyter: {err}", file=sys.stderr)
        server.stop()
        return 1
    _print_banner(server, args, api_key)
    if args.runpod_worker:
        _print_runpod_worker_env(server)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while server.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("rp-jupyter: stopping", file=sys.stderr)
    finally:
        server.stop()
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _print_banner(server: Any, args: argparse.Namespace, api_key: str | None) -> None:
    from rp_jupyter.local.simulation import describe

    handles = list(server.endpoints.values())
    lines = [f"rp-jupyter local endpoint serving at {server.base_url}"]
    for handle in handles:
        workers = handle.settings.workers
        simulated = describe(handle.settings)
        lines.append(f"  endpoint {handle.endpoint_id!r}: {handle.handler} "
                     f"({workers} worker{'s' if workers != 1 else ''}"
                     + (f"; simulated: {simulated})" if simulated else ")"))
    lines.append("")
    lines.append("For a client (Python SDK, rp_jupyter):")
    lines.append(f"  export {BASE_URL_ENV}={server.base_url}")
    lines.append(f"  export {ENDPOINT_ID_ENV}={handles[0].endpoint_id}")
    if api_key and args.api_key:
        lines.append(f"  export {API_KEY_ENV}=...   # the key given with --api-key (never shown)")
    elif api_key:
        lines.append(f"  export {API_KEY_ENV}=\"${args.api_key_env}\"   "
                     f"# the key held in ${args.api_key_env}")
    auth = f' -H "Authorization: Bearer ${API_KEY_ENV}"' if api_key else ""
    lines.append("")
    lines.append(f"Try: curl -s -X POST {handles[0].url}/runsync{auth} "
                 "-H 'Content-Type: application/json' -d '{\"input\": {}}'")
    lines.append("Press Ctrl+C to stop.")
    print("\n".join(lines), flush=True)


def _print_runpod_worker_env(server: Any) -> None:
    """What ``--runpod-worker`` gives each worker (the key itself is never printed)."""
    from rp_jupyter.local.protocol import runpod_worker_summary

    for handle in server.endpoints.values():
        print("\n" + runpod_worker_summary(handle), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rp-jupyter`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args, parser)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
