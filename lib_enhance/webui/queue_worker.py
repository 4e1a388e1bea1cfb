"""The WebUI as a worker of the folder batch's Redis queue (``--enhance-queue``).

Off unless the server runs with ``--enhance-queue redis://HOST:PORT/DB`` (or ``ENHANCE_QUEUE``
set): nothing here imports redis before that. With it, `start` (from ``on_app_started``) runs
one background thread that waits for items without the GPU and takes them under the host's
generation lock, like a generation of its own. Between two items it looks at the host's list of
queued tasks (`modules.progress.pending_tasks`: a Generate click or an API call waiting for the
lock) and, when one arrived, restores the user's checkpoint and gives the lock back — the
host's lock is first-in-first-out, so the user's job goes next.

The URL comes from the command line or the environment only, never from the API, and is shown
with its password hidden.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("enhance")

FLAG = "--enhance-queue"
ENV = "ENHANCE_QUEUE"

_QUEUE: Any = None
_WORKER: Any = None
_LOCK = threading.Lock()


def _cmd_opts() -> Any:
    from modules import shared

    return shared.cmd_opts


def settings(cmd_opts: Any = None) -> Any:
    """The queue's `QueueConfig` from the flags (or ENHANCE_QUEUE), None when it is off."""
    opts = _cmd_opts() if cmd_opts is None else cmd_opts
    url = getattr(opts, "enhance_queue", None) or os.environ.get(ENV, "")
    if not url.strip():
        return None
    from ..batch.queue import DEFAULT_CLAIM_AFTER, QueueConfig

    claim = getattr(opts, "enhance_queue_claim_after", None) or DEFAULT_CLAIM_AFTER
    return QueueConfig(url.strip(), float(claim))


def shared_queue() -> Any:
    """The server's one `RedisQueue` (worker and coordinator share it), None when off."""
    global _QUEUE
    with _LOCK:
        if _QUEUE is None:
            config = settings()
            if config is None:
                return None
            from ..batch.queue import RedisQueue

            _QUEUE = RedisQueue(config)
        return _QUEUE


def worker_id(cmd_opts: Any = None) -> str:
    """--enhance-queue-worker-id, else ``host:port``: stable across restarts, so a restarted
    worker finishes its own items at once instead of waiting for them to be claimed."""
    opts = _cmd_opts() if cmd_opts is None else cmd_opts
    port = getattr(opts, "port", None) or 7860
    name = getattr(opts, "enhance_queue_worker_id", None) or f"{platform.node() or 'webui'}:{port}"
    return re.sub(r"[^\w.:@+-]", "-", name)[:100]


def user_waiting(since: float) -> bool:
    """A user's job joined the host's queue after `since` (a stale entry never blocks us)."""
    from modules import progress

    pending = getattr(progress, "pending_tasks", None) or {}
    try:
        return any(float(t) > since for t in list(pending.values()))
    except (TypeError, ValueError):
        return bool(pending)


def start(
    host: Callable[[], Any],
    names: Callable[[], Any],
    detectors: Callable[[], Any],
    runner: Callable[[Callable[[], Any]], Any],
) -> Any:
    """Start this server's worker thread once (Reload UI calls on_app_started again); returns
    the `QueueWorker`, or None when the queue is off."""
    global _WORKER
    queue = shared_queue()
    if queue is None:
        return None
    with _LOCK:
        if _WORKER is not None:
            return _WORKER
        from ..batch.worker import QueueWorker

        _WORKER = QueueWorker(queue, worker_id(), host, names, detectors)
        thread = threading.Thread(
            target=_WORKER.serve,
            kwargs={"runner": runner, "should_yield": user_waiting},
            daemon=True,
            name="enhance-queue-worker",
        )
        thread.start()
    log.info("Enhance queue: this server is worker %s of %s", _WORKER.id, queue.config.shown)
    return _WORKER


def stop() -> None:
    """Stop the worker thread (tests; the host has no shutdown callback we rely on)."""
    global _WORKER, _QUEUE
    with _LOCK:
        worker, _WORKER, _QUEUE = _WORKER, None, None
    if worker is not None:
        worker.stopping.set()
