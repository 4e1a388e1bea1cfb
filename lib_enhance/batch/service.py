"""The folder batch as a background service, and its HTTP routes.

`BatchService` runs one batch at a time in a worker thread (there is one GPU) and keeps a status
per job id that the UI polls and `GET /enhance/v1/batch/{id}` returns. The WebUI script wires
it: ``register_batch_routes(app, service, allow_paths)`` in ``on_app_started``, and the
accordion's "Run batch" / "Resume" / "Process one first" buttons call `start` / `run_one`.

Folder paths over the API are a way to read and write the server's disk, so they are refused
(HTTP 403, saying how to allow them) unless the server runs with ``--enhance-allow-api-paths``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from . import config as cfgmod
from .batch import (
    BatchError,
    BatchProgress,
    BatchResult,
    OneResult,
    check_folders,
    process_one,
    run_batch,
)
from .manifest import WriteError

PATHS_FLAG = "--enhance-allow-api-paths"
PATHS_REFUSED = (
    f"folder paths over the API are disabled; start the server with {PATHS_FLAG} to allow "
    "the batch endpoints to read and write folders on the server"
)


class BatchBusyError(RuntimeError):
    """A batch is already running (one GPU: batches run one after another)."""


@dataclass
class JobStatus:
    """What a client sees of one batch job."""

    id: str
    state: str = "queued"
    """queued | running | finished | stopped | failed"""
    input_dir: str = ""
    output_dir: str = ""
    resume: bool = False
    progress: dict[str, Any] = field(default_factory=dict)
    totals: dict[str, Any] = field(default_factory=dict)
    review: str = ""
    manifest: str = ""
    checkpoint_loads: int | None = None
    errors: list[str] = field(default_factory=list)
    error: str = ""
    started: float = 0.0
    finished: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Runner = Callable[[Callable[[], Any]], Any]
"""Wraps the GPU work, e.g. in the WebUI's queue lock; the default just calls it."""


def _direct(work: Callable[[], Any]) -> Any:
    return work()


class BatchService:
    """Starts batches in a worker thread and remembers their status."""

    def __init__(
        self,
        host: Callable[[], Any],
        detectors: Callable[[], Any] | None = None,
        names: Callable[[], cfgmod.HostNames | None] | None = None,
        runner: Runner = _direct,
    ):
        """`host`, `detectors` and `names` are factories, called when a job starts (the
        WebUI's model lists change while it runs)."""
        self._host = host
        self._detectors = detectors or (lambda: None)
        self._names = names or (lambda: None)
        self._runner = runner
        self._jobs: dict[str, JobStatus] = {}
        self._stops: dict[str, threading.Event] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def validate(self, config: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """Full config (raises ConfigError naming each bad field); None stays None (resume)."""
        return None if config is None else cfgmod.validate(dict(config), self._names())

    def start(
        self,
        input_dir: str,
        output_dir: str,
        config: Mapping[str, Any] | None,
        resume: bool = False,
    ) -> str:
        """Start (or resume, with config=None) a batch; returns its job id at once.

        Settings and folders are checked here, so a caller hears about a bad request at once
        (ConfigError / BatchError) rather than from a job that failed in the background.
        """
        cfg = self.validate(config)
        check_folders(input_dir, output_dir)
        with self._lock:
            if any(j.state in ("queued", "running") for j in self._jobs.values()):
                raise BatchBusyError("a batch is already running; wait for it or stop it")
            job = JobStatus(
                uuid.uuid4().hex[:12],
                input_dir=str(input_dir),
                output_dir=str(output_dir),
                resume=resume,
                started=time.time(),
            )
            self._jobs[job.id] = job
            self._stops[job.id] = threading.Event()
        thread = threading.Thread(
            target=self._work, args=(job, cfg), daemon=True, name=f"enhance-batch-{job.id}"
        )
        self._threads[job.id] = thread
        thread.start()
        return job.id

    def _work(self, job: JobStatus, cfg: dict[str, Any] | None) -> None:
        job.state = "running"
        stop = self._stops[job.id]

        def progress(p: BatchProgress) -> None:
            job.progress = {**asdict(p), "text": p.text}

        try:
            result: BatchResult = self._runner(
                lambda: run_batch(
                    self._host(),
                    job.input_dir,
                    job.output_dir,
                    cfg,
                    detectors=self._detectors(),
                    progress=progress,
                    should_stop=stop.is_set,
                )
            )
        except (BatchError, WriteError, cfgmod.ConfigError, OSError) as exc:
            job.state, job.error = "failed", str(exc)
        except Exception as exc:  # a worker thread must report, not vanish
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
        else:
            job.state = "stopped" if result.stopped else "finished"
            job.totals, job.errors = result.totals, result.errors
            job.review = str(result.review or "")
            job.manifest = str(result.manifest)
            job.checkpoint_loads = result.checkpoint_loads
            summary = ", ".join(f"{k} {v}" for k, v in result.totals.items())
            job.progress = {
                **job.progress,
                "done_units": job.progress.get("total_units", 0),
                "eta_seconds": 0,
                "text": f"{job.state}: {summary}",
            }
        job.finished = time.time()

    def status(self, job_id: str) -> JobStatus | None:
        return self._jobs.get(job_id)

    def stop(self, job_id: str) -> bool:
        """Ask a job to stop after the current image (Resume continues it later)."""
        event = self._stops.get(job_id)
        if event:
            event.set()
        return event is not None

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus | None:
        thread = self._threads.get(job_id)
        if thread:
            thread.join(timeout)
        return self.status(job_id)

    def run_one(
        self, input_dir: str, output_dir: str, config: Mapping[str, Any], name: str | None = None
    ) -> OneResult:
        """ "Process one first", synchronously (the UI shows before/after and the scores)."""
        cfg = self.validate(config)
        return self._runner(
            lambda: process_one(
                self._host(), input_dir, output_dir, cfg or {}, name, detectors=self._detectors()
            )
        )


REQUEST_KEYS = ("input_dir", "output_dir", "config", "resume")


def _request(payload: Any) -> tuple[str, str, Any, bool]:
    """(input_dir, output_dir, config, resume) from a POST body, or ValueError saying why."""
    if not isinstance(payload, Mapping):
        raise ValueError("the body must be a JSON object with keys " + ", ".join(REQUEST_KEYS))
    unknown = sorted(set(payload) - set(REQUEST_KEYS))
    if unknown:
        raise ValueError(f"unknown keys {unknown}; allowed: {', '.join(REQUEST_KEYS)}")
    src, dst = payload.get("input_dir"), payload.get("output_dir")
    if not isinstance(src, str) or not src or not isinstance(dst, str) or not dst:
        raise ValueError("input_dir and output_dir must be non-empty strings (server paths)")
    resume = payload.get("resume", False)
    if not isinstance(resume, bool):
        raise ValueError("resume must be true or false")
    config = payload.get("config")
    if config is None and not resume:
        config = {}
    return src, dst, config, resume


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
            src, dst, config, resume = _request(payload)
            job_id = service.start(src, dst, config, resume)
        except cfgmod.ConfigError as exc:
            return JSONResponse(exc.as_dict(), status_code=422)
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
