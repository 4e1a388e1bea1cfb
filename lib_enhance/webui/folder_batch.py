"""What the img2img accordion's "Folder batch" buttons do, kept free of gradio so it is testable.

Each action takes the folder fields and the accordion's settings dict and returns what the UI
shows: images (before/after) and one line of status text. Errors a user can fix (a bad folder,
bad settings, a batch already running, an unreachable queue) come back as that text, never as a
traceback. On a server with ``--enhance-queue`` the status lists the queue's workers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ..batch.manifest import WriteError
from ..batch.queue import QueueUnavailable
from ..batch.run import BatchError
from ..batch.service import BatchBusyError, BatchService
from ..spec import config as cfgmod

USER_ERRORS = (BatchError, WriteError, BatchBusyError, cfgmod.ConfigError, OSError)
LOCAL_LABEL = "Run on this server only"
"""The checkbox that bypasses the queue (shown only on a server with --enhance-queue)."""


class FolderBatchActions:
    """The four buttons; `service` is the server's one BatchService (a factory, resolved late).

    Holds no per-user state: the job a browser session started travels in that session's
    `gr.State` (returned by run/resume, passed to status), so two users never see each
    other's batch.
    """

    def __init__(self, service: Callable[[], BatchService]):
        self._service = service

    def process_one(
        self, input_dir: str, output_dir: str, settings: Mapping[str, Any] | None
    ) -> tuple[list[str], str]:
        """Full pipeline on the folder's first image: before/after paths and the QA line."""
        try:
            one = self._service().run_one(input_dir, output_dir, dict(settings or {}))
        except USER_ERRORS as exc:
            return [], f"Not run: {exc}"
        scores = json.dumps(one.qa, sort_keys=True) if one.qa else "QA off"
        return [str(one.before), str(one.after)], f"{one.name}: {scores}"

    LOCAL_LABEL = LOCAL_LABEL

    def queued(self) -> bool:
        """The server has a work queue: the UI offers to run on this server only."""
        return self._service().has_queue()

    def run(
        self,
        input_dir: str,
        output_dir: str,
        settings: Mapping[str, Any] | None,
        job_id: str,
        local: bool = False,
    ) -> tuple[list[str], str, str]:
        """Start a batch; returns (gallery, status, the session's job id)."""
        return self._start(input_dir, output_dir, dict(settings or {}), False, job_id, local)

    def resume(
        self, input_dir: str, output_dir: str, job_id: str, local: bool = False
    ) -> tuple[list[str], str, str]:
        """Continue a stopped or killed batch with the settings its manifest recorded."""
        return self._start(input_dir, output_dir, None, True, job_id, local)

    def _start(
        self,
        input_dir: str,
        output_dir: str,
        settings: dict | None,
        resume: bool,
        job_id: str,
        local: bool,
    ) -> tuple[list[str], str, str]:
        try:
            new_id = self._service().start(
                input_dir, output_dir, settings, resume=resume, local=bool(local)
            )
        except QueueUnavailable as exc:
            return [], f"Not started: {exc}. Tick '{LOCAL_LABEL}' to run it here.", job_id
        except USER_ERRORS as exc:
            return [], f"Not started: {exc}", job_id
        return [], f"Batch {new_id} started; press Status to follow it.", new_id

    def status(self, job_id: str) -> tuple[list[str], str]:
        job = self._service().status(job_id) if job_id else None
        if job is None:
            return [], "No batch started from this page yet."
        text = f"Batch {job.id}: {job.state}. {job.progress.get('text', '')}".strip()
        if job.error:
            text += f" Error: {job.error}"
        if job.review:
            text += f" Review page: {job.review}"
        if job.queue:
            text += f" Queue {job.queue}. " + workers_text(job.workers)
        return [], text


def workers_text(workers: Mapping[str, Mapping[str, Any]]) -> str:
    """ "Workers: w1 (alive) 12 done, 0 failed, now img7.png; w2 (gone) …" in one line."""
    if not workers:
        return "Workers: none yet."
    lines = []
    for name, w in workers.items():
        now = f", now {w['current']}" if w.get("current") else ""
        state = "alive" if w.get("alive") else "gone"
        lines.append(f"{name} ({state}) {w['done']} done, {w['failed']} failed{now}")
    return "Workers: " + "; ".join(lines) + "."
