"""The ``/_local`` admin view, for servers running in another process (the CLI).

- ``GET /_local/endpoints``: the endpoints and their handlers.
- ``GET /_local/stats[?endpoint=ID]``: client request counts by operation and by job id.
- ``POST /_local/stats/reset[?endpoint=ID]``: forget them.
- ``GET /_local/jobs/{endpoint_id}/{job_id}``: the server-side job record.
- ``GET|POST /_local/faults/{endpoint_id}``: read or change the faults (JSON of
  :class:`~rp_jupyter.local.faults.Faults` fields, ``script: {op: [kinds]}``, ``clear``).

Outside ``/v2``, never counted, and guarded by the API key when one is set.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from rp_jupyter.local.endpoint_settings import MAX_OTHER_BODY
from rp_jupyter.local.httputil import answer, auth_problem, bad_request, error, read_body
from rp_jupyter.local.request_limits import too_large, unknown_route
from rp_jupyter.local.server_endpoint import ServerEndpoint


def _keys(endpoints: list[ServerEndpoint]) -> list[str]:
    return [ep.settings.api_key for ep in endpoints if ep.settings.api_key]


async def dispatch(endpoints: dict[str, ServerEndpoint], parts: list[str], method: str,
                   scope: dict[str, Any], query: dict[str, str], receive: Any) -> Response:
    """Answer one ``/_local/...`` request; ``parts`` are the path segments after it."""
    raw = await read_body(receive, MAX_OTHER_BODY)
    if raw is None:
        return too_large(MAX_OTHER_BODY)
    named = query.get("endpoint") or (parts[1] if len(parts) > 1 and parts[0] in
                                      ("jobs", "faults") else None)
    if named is not None and named not in endpoints:
        return unknown_route(scope, _keys(list(endpoints.values())), "endpoint not found")
    scope_eps = [endpoints[named]] if named else list(endpoints.values())
    problem = auth_problem(scope, _keys(scope_eps))
    if problem:
        return error(401, problem)
    if parts == ["endpoints"] and method == "GET":
        return answer({"endpoints": {
            ep.id: {"handler": ep.spec.label, "workers": ep.settings.workers,
                    "return_aggregate_stream": ep.settings.return_aggregate_stream}
            for ep in endpoints.values()}})
    if parts == ["stats"] and method == "GET":
        if named:
            return answer({"endpoint": named, **endpoints[named].stats.snapshot()})
        return answer({"endpoints": {ep.id: ep.stats.snapshot() for ep in scope_eps}})
    if parts == ["stats", "reset"] and method == "POST":
        for ep in scope_eps:
            ep.stats.reset()
        return answer({"reset": [ep.id for ep in scope_eps]})
    if len(parts) == 3 and parts[0] == "jobs" and method == "GET":
        job = endpoints[parts[1]].get(parts[2])
        if job is None:
            return error(404, "job not found")
        return answer(job.record())
    if len(parts) == 2 and parts[0] == "faults" and method in ("GET", "POST"):
        faults = endpoints[parts[1]].faults
        if method == "POST":
            try:
                data = json.loads(raw or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object")
                faults.update(data)
            except (ValueError, TypeError, RecursionError) as err:
                detail = "nested too deeply" if isinstance(err, RecursionError) else err
                return bad_request(f"bad request: body: {detail}")
        return answer(faults.to_dict())
    return error(404, "not found")
