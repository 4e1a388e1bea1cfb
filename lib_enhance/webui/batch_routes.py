"""The folder batch's HTTP routes: start, status and stop a `BatchService` job.

Folder paths over the API are a way to read and write the server's disk, so they are refused
(HTTP 403, saying how to allow them) unless the server runs with ``--enhance-allow-api-paths``.
On a server with ``--enhance-queue``, a batch runs on every worker of the queue; ``"local": true``
runs it here only, and an unreachable queue is an HTTP 503 that says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..batch.queue import QueueUnavailable
from ..batch.service import BatchBusyError, BatchService
from ..spec import config as cfgmod
from . import controller

PATHS_FLAG = "--enhance-allow-api-paths"
PATHS_REFUSED = (
    f"folder paths over the API are disabled; start the server with {PATHS_FLAG} to allow "
    "the batch endpoints to read and write folders on the server"
)


REQUEST_KEYS = ("input_dir", "output_dir", "settings", "config", "resume", "local")
"""`settings` is the documented name of the Enhance settings; `config` is kept as an alias."""
LOCAL_HINT = 'send "local": true to run this batch on this server only'


def _request(payload: Any) -> tuple[str, str, Any, bool, bool]:
    """(input_dir, output_dir, config, resume, local) from a POST body, or ValueError."""
    if not isinstance(payload, Mapping):
        raise ValueError("the body must be a JSON object with keys " + ", ".join(REQUEST_KEYS))
    unknown = sorted(set(payload) - set(REQUEST_KEYS))
    if unknown:
        raise ValueError(f"unknown keys {unknown}; allowed: {', '.join(REQUEST_KEYS)}")
    src, dst = payload.get("input_dir"), payload.get("output_dir")
    if not isinstance(src, str) or not src or not isinstance(dst, str) or not dst:
        raise ValueError("input_dir and output_dir must be non-empty strings (server paths)")
    resume, local = payload.get("resume", False), payload.get("local", False)
    if not isinstance(resume, bool) or not isinstance(local, bool):
        raise ValueError("resume and local must be true or false")
    given = payload.get("settings", payload.get("config"))
    config = None if given is None else controller.request_settings(payload)
    if config is None and not resume:
        config = {}
    return src, dst, config, resume, local


def register_batch_routes(
    app: Any,
    service: BatchService,
    allow_paths: bool | Callable[[], bool],
    dependencies: list[Any] | None = None,
) -> None:
    """Add POST /enhance/v1/batch, GET /enhance/v1/batch/{id}, POST …/{id}/stop to `app`.

    `allow_paths` is the value (or a getter) of --enhance-allow-api-paths; `dependencies` are
    the host's API auth dependencies, so --api-auth covers these routes too.
    """
    from fastapi import Body
    from fastapi.responses import JSONResponse

    allowed = allow_paths if callable(allow_paths) else (lambda: bool(allow_paths))

    def start(payload: Any = Body(...)) -> Any:  # noqa: B008 - FastAPI's idiom
        if not allowed():
            return JSONResponse({"error": PATHS_REFUSED}, status_code=403)
        try:
            src, dst, config, resume, local = _request(payload)
            job_id = service.start(src, dst, config, resume, local=local)
        except cfgmod.ConfigError as exc:
            return JSONResponse(exc.as_dict(), status_code=422)
        except QueueUnavailable as exc:
            return JSONResponse({"error": str(exc), "hint": LOCAL_HINT}, status_code=503)
        except BatchBusyError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        body = {"id": job_id, "status": f"/enhance/v1/batch/{job_id}"}
        return JSONResponse(body, status_code=202)

    def status(job_id: str) -> Any:
        job = service.status(job_id)
        if job is None:
            return JSONResponse({"error": f"no batch job {job_id!r}"}, status_code=404)
        return job.as_dict()

    def stop(job_id: str) -> Any:
        if not service.stop(job_id):
            return JSONResponse({"error": f"no batch job {job_id!r}"}, status_code=404)
        return {"id": job_id, "stopping": True}

    deps = list(dependencies or [])
    app.add_api_route("/enhance/v1/batch", start, methods=["POST"], dependencies=deps)
    app.add_api_route("/enhance/v1/batch/{job_id}", status, methods=["GET"], dependencies=deps)
    app.add_api_route("/enhance/v1/batch/{job_id}/stop", stop, methods=["POST"], dependencies=deps)
