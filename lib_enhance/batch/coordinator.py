"""The starting server's side of a queued folder batch: hand out items, take in results, write.

It is the folder batch of `run` with the host calls moved to the workers: the same manifest, the
same work files, QA, outputs and ``review.html``, written only here (workers need no shared disk).
Items go out one stage at a time per image — stage n+1 of an image is queued when stage n's
result is on disk — and only a few ahead of the workers (`window`, two per live worker), lowest
stage first: Redis holds a handful of images, not the folder; the first item is out at once; and
the workers finish a stage together before any of them loads the next stage's checkpoint.

Exactly-once effects: a result is acknowledged in Redis only after its work file and the
manifest are written (atomically), and a result for a stage the manifest already has is dropped,
so an item run twice (its worker was presumed dead, Redis lost a second of writes, this server
died between write and acknowledge) changes nothing the second time. On every start, after a
Redis outage and every `claim_after` seconds, `reconcile` queues again any next stage the queue
does not know of, and finishes images whose stages are all done. A lease in Redis keeps a second
server from coordinating the same job; Resume on any server with the folders takes over once the
first one's lease has lapsed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .items import InvalidEntry, config_text, decode_result, encode_item, png_bytes
from .manifest import FINISHED
from .queue import QueueBusy, QueueDown, RedisQueue
from .run import (
    BatchError,
    BatchResult,
    FolderRun,
    ProgressFn,
    image_id,
    make_job,
    prepare_manifest,
    review_page,
)
from .worker import Backoff

log = logging.getLogger("enhance")

WorkersFn = Callable[[dict[str, dict[str, Any]], str], None]
"""Called about once a second with the workers' status and a note ("" or what is wrong)."""


class QueuedRun(FolderRun):
    """One coordinator run over a manifest."""

    def __init__(
        self,
        queue: RedisQueue,
        manifest: Any,
        input_dir: Path,
        progress: ProgressFn | None,
        should_stop: Callable[[], bool] | None,
        on_workers: WorkersFn | None,
    ):
        super().__init__(None, manifest, input_dir, None, progress, should_stop)
        self.queue = queue
        self.on_workers = on_workers or (lambda workers, note: None)
        state = manifest.data.setdefault("queue", {})
        self.job: str = state.setdefault("job", uuid.uuid4().hex[:12])
        self.counts: dict[str, dict[str, int]] = state.setdefault("workers", {})
        self.owner = f"{platform.node()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.config_json = config_text(self.config)
        self.waiting: dict[str, tuple[dict[str, Any], int]] = {}
        """Item key → (record, stage number) of every item out in the queue."""
        self.backlog: dict[str, tuple[dict[str, Any], int]] = {}
        """Items to send when the queue has room (`window`), lowest stage first."""
        self.window = 4
        self._dead: dict[int, str] = {}
        """Stages no live worker can run → why; their items fail without being sent."""
        self.stage_done: dict[int, int] = {}
        self.stage_total: dict[int, int] = {}
        self._jobs: dict[str, dict[str, Any]] = {}
        self.note = ""
        self.leased = False
        self.seconds = {"results": 0, "queue": 0.0, "transfer": 0.0}
        """Per accepted result, time spent on the queue's own work (Redis, checks) and on
        decoding its PNG — beyond what the local batch also does (store, QA, output)."""
        self._local = 0.0
        self._unservable: dict[int, float] = {}
        """Stage → since when every live worker refuses it (failed once that lasts)."""

    # ------------------------------------------------------------------ the run

    def execute(self) -> None:
        if not self.active():
            return
        self.queue.ping()
        self.queue.acquire_lease(self.job, self.owner)
        self.leased = True
        live = sum(self.queue.alive().values())
        self.window = max(4, 2 * live + 2)
        self._count_totals()
        self.reconcile()
        self._loop()

    def close(self) -> None:
        if self.leased:
            with contextlib.suppress(QueueDown):  # else it lapses by itself
                self.queue.release_lease(self.job, self.owner)

    def _count_totals(self) -> None:
        active = self.active()
        for number, stage in enumerate(self.stages, 1):
            todo = [r for r in active if r["stages"].get(stage.name, {}).get("status")
                    not in FINISHED]  # fmt: skip
            self.stage_total[number] = len(todo)
        self.units_total = sum(self.stage_total.values()) + len(active)

    def reconcile(self) -> None:
        """Make Redis hold the next stage of every unfinished image, and finish the images
        whose stages are all done. Safe to repeat: what the queue already has is left alone."""
        self.queue.open_job(
            self.job,
            {
                "config": self.config_json,
                "stages": json.dumps([s.name for s in self.stages]),
                "output": self.output_dir.name,
                "coordinator": self.owner,
            },
            len(self.stages),
        )
        queued = self.queue.queued(self.job)
        self.waiting, self.backlog = {}, {}
        for record in self.active():
            number = self._next_stage(record)
            if number is None:
                self.finish(record)
                continue
            key = f"{image_id(record)}.{number}"
            (self.waiting if key in queued else self.backlog)[key] = (record, number)
        self._fill()

    def _fill(self) -> None:
        """Send backlog items, lowest stage first, until `window` items are out."""
        while self.backlog and len(self.waiting) < self.window:
            key = min(self.backlog, key=lambda k: self.backlog[k][1])
            record, number = self.backlog.pop(key)
            if number in self._dead:
                self._record(record, number, _failed(self._dead[number]), None)
                continue
            self.waiting[key] = (record, number)
            self._enqueue(record, number, key)

    def _next_stage(self, record: dict[str, Any]) -> int | None:
        for number, stage in enumerate(self.stages, 1):
            if record["stages"].get(stage.name, {}).get("status") not in FINISHED:
                return number
        return None

    def _enqueue(self, record: dict[str, Any], number: int, key: str) -> None:
        try:
            if record["work"]:
                png = (self.output_dir / record["work"]).read_bytes()
            else:
                png = png_bytes(self._images(record)[1])
            job = self._job_fields(record)
        except OSError as exc:
            self._fail_image(record, f"cannot read {record['work'] or record['source']}: {exc}")
            self.waiting.pop(key, None)
            return
        fields = encode_item(key, number, record["source"], job, self.config_json, png)
        self.queue.enqueue(self.job, number, key, fields)

    def _job_fields(self, record: dict[str, Any]) -> dict[str, Any]:
        if record["source"] not in self._jobs:
            source = self._images(record)[0]
            job = make_job(source, record["source"], record["sha256"])
            self._jobs[record["source"]] = {
                "prompt": job.prompt,
                "negative_prompt": job.negative_prompt,
                "seed": job.seed,
                "steps": job.steps,
                "sampler": job.sampler,
                "scheduler": job.scheduler,
                "cfg": job.cfg,
            }
        return self._jobs[record["source"]]

    # ------------------------------------------------------------------ the loop

    def _loop(self) -> None:
        own, backoff, outage = True, Backoff(), False
        every = self.queue.config.claim_after
        ticked = reconciled = 0.0
        while self.waiting or self.backlog:
            if self.should_stop():
                self.stopped = True
                self._quietly(lambda: self.queue.deactivate(self.job))
                break
            try:
                if outage:
                    self.reconcile()
                    own, outage, self.note = True, False, ""
                    log.warning("Enhance queue: %s is back", self.queue.config.shown)
                got = self.queue.read_results(self.job, 16, 500, own=own)
                own = own and bool(got)
                for entry_id, fields in got:
                    self._accept(entry_id, fields)
                self._fill()
                now = time.monotonic()
                if now - ticked >= min(1.0, every / 3):
                    ticked = now
                    self._tick()
                if now - reconciled >= every:
                    reconciled = now
                    self.reconcile()
                backoff.reset()
            except QueueDown as exc:
                if not outage:
                    log.warning("Enhance queue: %s; retrying with back-off", exc)
                outage, self.note = True, f"{exc}; retrying"
                self.on_workers(self._workers_from_counts(), self.note)
                time.sleep(backoff.next())
        self.on_workers(self._workers_quietly(), self.note)
        if not self.stopped and not self.waiting and not self.backlog:
            self._quietly(lambda: self.queue.delete_job(self.job, len(self.stages)))

    def _quietly(self, op: Callable[[], Any]) -> None:
        try:
            op()
        except QueueDown as exc:
            log.warning("Enhance queue: %s", exc)

    def _tick(self) -> None:
        if not self.queue.refresh_lease(self.job, self.owner):
            try:
                self.queue.acquire_lease(self.job, self.owner)
            except QueueBusy as exc:
                raise BatchError(f"another server took over this batch: {exc}") from exc
        self._fail_unservable()
        workers = self.workers()
        self.window = max(4, 2 * sum(w["alive"] for w in workers.values()) + 2)
        self.on_workers(workers, self.note)

    # ------------------------------------------------------------------ results

    def _accept(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        began, local = time.perf_counter(), self._local
        try:
            result = decode_result(fields)
            decoded = time.perf_counter() - began
        except InvalidEntry as exc:
            log.error("Enhance queue: dropped an invalid result: %s", exc)
            self.queue.ack_result(self.job, entry_id)
            return
        waiting = self.waiting.get(result.key)
        if waiting is None or waiting[1] != result.stage:
            log.info("Enhance queue: dropped a duplicate result for %s", result.key)
            self.queue.ack_result(self.job, entry_id)
            return
        record, number = waiting
        stage = self.stages[number - 1]
        counts = self.counts.setdefault(result.worker, {"done": 0, "failed": 0})
        counts["failed" if result.status == "failed" else "done"] += 1
        self.host_calls[stage.name] = self.host_calls.get(stage.name, 0) + int(
            result.entry["host_calls"]
        )
        self._record(record, number, result.entry, result.png or None, result.fatal)
        self.queue.ack_result(self.job, entry_id)
        total = time.perf_counter() - began - (self._local - local)
        self.seconds["results"] += 1
        self.seconds["transfer"] += decoded
        self.seconds["queue"] += total - decoded

    def _record(
        self,
        record: dict[str, Any],
        number: int,
        entry: dict[str, Any],
        png: bytes | None,
        fatal: bool = False,
    ) -> None:
        """Persist a stage's outcome, then send the image on: next stage, or the output."""
        stage = self.stages[number - 1]
        key = f"{image_id(record)}.{number}"
        self.waiting.pop(key, None)
        self.stage_done[number] = self.stage_done.get(number, 0) + 1
        began = time.perf_counter()
        if fatal:
            record["stages"][stage.name] = entry
            self._fail_image(record, f"{stage.name}: {entry['error']}")
        else:
            self.store(record, stage.name, number, entry, png)
        self._local += time.perf_counter() - began
        self._emit(stage.name, number, self.stage_done[number],
                   max(self.stage_total.get(number, 0), self.stage_done[number]),
                   record["source"])  # fmt: skip
        if fatal:
            return
        following = self._next_stage(record)
        if following is None:
            began = time.perf_counter()
            self.finish(record)
            self._local += time.perf_counter() - began
        else:
            self.backlog[f"{image_id(record)}.{following}"] = (record, following)

    # ------------------------------------------------------------------ nobody can run it

    def _fail_unservable(self) -> None:
        """A stage that every live worker refuses (it lacks the model) for `claim_after`
        seconds — time for a worker that just started to say it can — fails for every image,
        with the reasons and the workers asked; the images go on without it. A worker that can
        run it, once it appears, brings the stage back."""
        live = sorted(w for w, ok in self.queue.alive().items() if ok)
        caps = self.queue.caps(self.job)
        now = time.monotonic()
        stages = {n for _, n in self.waiting.values()} | set(self._dead)
        for number in sorted(stages):
            name = self.stages[number - 1].name
            if not live or not all(name in caps.get(w, {}) for w in live):
                self._unservable.pop(number, None)
                self._dead.pop(number, None)
                continue
            since = self._unservable.setdefault(number, now)
            if number in self._dead or now - since < self.queue.config.claim_after:
                continue
            reasons = "; ".join(f"{w}: {caps[w][name]}" for w in live)
            self._dead[number] = f"no worker can run {name} (asked {', '.join(live)}): {reasons}"
            log.error("Enhance queue: %s", self._dead[number])
            keys = [k for k, (_, n) in self.waiting.items() if n == number]
            queued = self.queue.queued(self.job)
            self.queue.drop(self.job, number, [queued[k] for k in keys if k in queued])
            for key in keys:
                self._record(self.waiting[key][0], number, _failed(self._dead[number]), None)

    # ------------------------------------------------------------------ status

    def workers(self) -> dict[str, dict[str, Any]]:
        """worker → done, failed, alive, current (the image it works on for this job)."""
        alive = self.queue.alive()
        current = self.queue.current(self.job)
        names = set(self.counts) | {w for w, ok in alive.items() if ok}
        out = {}
        for name in sorted(names):
            counts = self.counts.get(name, {"done": 0, "failed": 0})
            live = alive.get(name, False)
            out[name] = {
                "done": counts["done"],
                "failed": counts["failed"],
                "alive": live,
                "current": current.get(name, "") if live else "",
            }
        return out

    def _workers_from_counts(self) -> dict[str, dict[str, Any]]:
        return {
            name: {**counts, "alive": False, "current": ""}
            for name, counts in sorted(self.counts.items())
        }

    def _workers_quietly(self) -> dict[str, dict[str, Any]]:
        try:
            return self.workers()
        except QueueDown:
            return self._workers_from_counts()


def _failed(error: str) -> dict[str, Any]:
    return {"status": "failed", "error": error, "host_calls": 0, "seconds": 0.0, "ran": {},
            "seams": []}  # fmt: skip


def run_queued_batch(
    queue: RedisQueue,
    input_dir: str | Path,
    output_dir: str | Path,
    config: Mapping[str, Any] | None = None,
    *,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_workers: WorkersFn | None = None,
    review: bool = True,
) -> BatchResult:
    """`run.run_batch`, with the stages run by the queue's workers. Same folders, manifest,
    outputs and review page; `config=None` resumes (here, or on another server whose earlier
    coordinator is gone). Raises BatchError, WriteError, QueueUnavailable, QueueBusy."""
    manifest = prepare_manifest(input_dir, output_dir, config)
    run = QueuedRun(queue, manifest, Path(manifest.data["input"]), progress, should_stop,
                    on_workers)  # fmt: skip
    record = manifest.begin_run()
    try:
        run.scan()
        run.execute()
    finally:
        run.close()
        record["seconds"] = round(time.perf_counter() - run.started, 3)
        record["stopped"] = run.stopped
        record["queue"] = run.job
        try:
            manifest.save()
        except OSError as exc:
            log.error("Enhance batch: could not save the manifest: %s", exc)
    page = review_page(manifest, run.input_dir) if review else None
    return BatchResult(
        manifest.output_dir,
        manifest.path,
        page,
        manifest.totals(),
        run.stopped,
        None,
        run.host_calls,
        run.errors,
        dict(run.seconds),
    )
