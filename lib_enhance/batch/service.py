"""The folder batch as a background service: one job at a time, with a status per job id.

`BatchService` runs one batch at a time in a worker thread (there is one GPU) and keeps a status
per job id that the UI polls and `GET /enhance/v1/batch/{id}` returns. Given a work queue (the
server runs with ``--enhance-queue``), a batch is coordinated from here and run by every worker
of the queue (`coordinator`), unless the caller asks for a local run. The WebUI glue wires it:
`webui.batch_routes.register_batch_routes` in ``on_app_started``, and the accordion's
"Run batch" / "Resume" / "Process one first" buttons call `start` / `run_one`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..spec import config as cfgmod
from .manifest import WriteError
from .queue import QueueBusy, QueueUnavailable
from .run import (
    BatchError,
    BatchProgress,
    BatchResult,
    OneResult,
    check_folders,
    process_one,
    run_batch,
)

_FAILURES = (BatchError, WriteError, cfgmod.ConfigError, OSError)


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
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Queued batches: worker id → done, failed, alive, current. Empty for a local run."""
    queue: str = ""
    """Queued batches: the queue (URL without its password) and what is wrong with it, if
    anything."""

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
        queue: Callable[[], Any] | None = None,
    ):
        """`host`, `detectors` and `names` are factories, called when a job starts (the
        WebUI's model lists change while it runs). `queue` gives the server's work queue
        (`queue.RedisQueue`); None runs every batch here."""
        self._host = host
        self._detectors = detectors or (lambda: None)
        self._names = names or (lambda: None)
        self._runner = runner
        self._queue = queue
        self._jobs: dict[str, JobStatus] = {}
        self._stops: dict[str, threading.Event] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def has_queue(self) -> bool:
        """Batches started here run on the queue's workers (unless asked to run locally)."""
        return self._queue is not None and self._queue() is not None

    def validate(self, config: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """Full config (raises ConfigError naming each bad field); None stays None (resume)."""
        return None if config is None else cfgmod.validate(dict(config), self._names())

    def start(
        self,
        input_dir: str,
        output_dir: str,
        config: Mapping[str, Any] | None,
        resume: bool = False,
        local: bool = False,
    ) -> str:
        """Start (or resume, with config=None) a batch; returns its job id at once.

        Settings, folders and the queue are checked here, so a caller hears about a bad request
        at once (ConfigError / BatchError / QueueUnavailable) rather than from a job that failed
        in the background. `local` runs it on this server only, also when a queue is set.
        """
        cfg = self.validate(config)
        check_folders(input_dir, output_dir)
        queue = None if local or self._queue is None else self._queue()
        if queue is not None:
            queue.ping()
        with self._lock:
            if any(j.state in ("queued", "running") for j in self._jobs.values()):
                raise BatchBusyError("a batch is already running; wait for it or stop it")
            job = JobStatus(
                uuid.uuid4().hex[:12],
                input_dir=str(input_dir),
                output_dir=str(output_dir),
                resume=resume,
                started=time.time(),
                queue=queue.config.shown if queue is not None else "",
            )
            self._jobs[job.id] = job
            self._stops[job.id] = threading.Event()
        thread = threading.Thread(
            target=self._work, args=(job, cfg, queue), daemon=True, name=f"enhance-batch-{job.id}"
        )
        self._threads[job.id] = thread
        thread.start()
        return job.id

    def _work(self, job: JobStatus, cfg: dict[str, Any] | None, queue: Any = None) -> None:
        job.state = "running"
        stop = self._stops[job.id]

        def progress(p: BatchProgress) -> None:
            job.progress = {**asdict(p), "text": p.text}

        def workers(status: dict[str, dict[str, Any]], note: str) -> None:
            job.workers = status
            job.queue = f"{queue.config.shown}: {note}" if note else queue.config.shown

        try:
            if queue is not None:  # the GPU work happens in the workers: no lock needed here
                from .coordinator import run_queued_batch

                result: BatchResult = run_queued_batch(
                    queue, job.input_dir, job.output_dir, cfg, progress=progress,
                    should_stop=stop.is_set, on_workers=workers,
                )  # fmt: skip
            else:
                result = self._runner(
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
        except (*_FAILURES, QueueBusy, QueueUnavailable) as exc:
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
