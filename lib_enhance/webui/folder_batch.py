"""What the img2img accordion's "Folder batch" buttons do, kept free of gradio so it is testable.

Each action takes the folder fields and the accordion's settings dict and returns what the UI
shows: images (before/after) and one line of status text. Errors a user can fix (a bad folder,
bad settings, a batch already running) come back as that text, never as a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ..batch.manifest import WriteError
from ..batch.run import BatchError
from ..batch.service import BatchBusyError, BatchService
from ..spec import config as cfgmod

USER_ERRORS = (BatchError, WriteError, BatchBusyError, cfgmod.ConfigError, OSError)


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

    def run(
        self, input_dir: str, output_dir: str, settings: Mapping[str, Any] | None, job_id: str
    ) -> tuple[list[str], str, str]:
        """Start a batch; returns (gallery, status, the session's job id)."""
        return self._start(input_dir, output_dir, dict(settings or {}), False, job_id)

    def resume(self, input_dir: str, output_dir: str, job_id: str) -> tuple[list[str], str, str]:
        """Continue a stopped or killed batch with the settings its manifest recorded."""
        return self._start(input_dir, output_dir, None, True, job_id)

    def _start(
        self, input_dir: str, output_dir: str, settings: dict | None, resume: bool, job_id: str
    ) -> tuple[list[str], str, str]:
        try:
            new_id = self._service().start(input_dir, output_dir, settings, resume=resume)
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
        return [], text
