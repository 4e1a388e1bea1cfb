"""A queue worker: takes items (one stage of one image) from Redis, runs them on its host, sends
the results back.

Stage-major: a worker always takes the lowest stage that has work for it, and runs its items
inside one `checkpoint_scope`, so it loads a stage's checkpoint once for all the items it takes
(a claimed item of an earlier stage after a crash is the one exception). It keeps that scope —
and the host's generation lock its caller holds — only while there is work or for `idle_grace`
seconds of waiting, and gives both back as soon as `should_yield` says the user queued a job.

Faults: a heartbeat thread keeps the worker registered and resets the idle time of the entries it
is busy with; a worker that stops heart-beating loses them to XAUTOCLAIM after `claim_after`. A
stage that fails is put back for another try (three in all) and then sent as failed with its
last error; an item on which workers died three times is given up the same way. A worker that
lacks a stage's checkpoint, VAE, upscaler, sampler or detector never reads that stage's stream
and says why in the job's ``caps``, so the starting server can tell when nobody can run it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import platform
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..spec import config as cfgmod
from ..stages.pipeline import ImageJob, build_stages, run_stage
from .items import (
    ConfigCache,
    InvalidEntry,
    Result,
    decode_item,
    encode_result,
    entry_key,
    png_bytes,
)
from .queue import (
    MAX_TRIES,
    Delivery,
    JobKeys,
    QueueBusy,
    QueueDown,
    QueueUnavailable,
    RedisQueue,
)
from .run import stage_entry

log = logging.getLogger("enhance")

EventFn = Callable[[str, Mapping[str, Any]], None]


class _Yield(Exception):
    """End the session now (the user interrupted an item)."""


@dataclass
class JobView:
    """What this worker knows of an active job: its stages and which ones it can run."""

    job: str
    stages: list[str]
    refused: dict[str, str]
    checked: float

    def streams(self) -> list[tuple[int, str]]:
        keys = JobKeys(self.job)
        return [(n, keys.stage(n)) for n, s in enumerate(self.stages, 1) if s not in self.refused]


@dataclass
class Backoff:
    """Waits that double from `first` to `most` while Redis stays away."""

    first: float = 0.2
    most: float = 5.0
    _next: float = field(default=0.0, init=False)

    def next(self) -> float:
        self._next = min(self.most, self._next * 2) if self._next else self.first
        return self._next

    def reset(self) -> None:
        self._next = 0.0


def _since(should_yield: Callable[[float], bool], started: float) -> Callable[[], bool]:
    return lambda: should_yield(started)


def refusals(config: Mapping[str, Any], names: cfgmod.HostNames | None) -> dict[str, str]:
    """Stage name → why this host cannot run it (a model it does not have), from the same
    validation as the API with this host's lists."""
    if names is None:
        return {}
    try:
        cfgmod.validate(dict(config), names)
    except cfgmod.ConfigError as exc:
        out: dict[str, list[str]] = {}
        for problem in exc.problems:
            out.setdefault(_stage_of(problem.path), []).append(str(problem))
        enabled = {s.name for s in build_stages(config)}
        return {stage: "; ".join(why) for stage, why in out.items() if stage in enabled}
    return {}


def _stage_of(path: str) -> str:
    """ "hires.checkpoint" → "hires"; "detail[1].model" → "detail 2"."""
    head = path.split(".", 1)[0]
    if head.startswith("detail[") and head.endswith("]") and head[7:-1].isdigit():
        return f"detail {int(head[7:-1]) + 1}"
    return head


class QueueWorker:
    """Runs queue items on one host. `host`, `names` and `detectors` are factories (the WebUI's
    lists change while it runs); `serve` is the whole life of a worker."""

    def __init__(
        self,
        queue: RedisQueue,
        worker_id: str,
        host: Callable[[], Any],
        names: Callable[[], cfgmod.HostNames | None] = lambda: None,
        detectors: Callable[[], Any] = lambda: None,
        *,
        idle_grace: float = 10.0,
        block_ms: int = 500,
        on_event: EventFn | None = None,
    ):
        self.queue = queue
        self.id = worker_id
        self._host = host
        self._names = names
        self._detectors = detectors
        self.idle_grace = idle_grace
        self.block_ms = block_ms
        self.on_event = on_event or (lambda kind, data: None)
        self.configs = ConfigCache()
        self.stopping = threading.Event()
        self._views: dict[str, JobView] = {}
        self._views_at = 0.0
        self._held: list[Delivery] = []
        self._inflight: dict[bytes, str] = {}
        self._lock = threading.Lock()
        self._own_first = True
        self._last_claim: dict[str, float] = {}
        self._pause_until = 0.0
        self._outage = False
        self.instance = uuid.uuid4().hex
        claim = queue.config.claim_after
        self.beat_every = max(0.05, claim / 3)
        self.claim_every = max(0.1, claim / 4)

    # ------------------------------------------------------------------ the life of a worker

    def serve(
        self,
        runner: Callable[[Callable[[], Any]], Any] = lambda work: work(),
        should_yield: Callable[[float], bool] = lambda since: False,
        poll: float = 1.0,
    ) -> None:
        """Until `stopping` is set: wait (without the GPU) for work, then run a session inside
        `runner` (the WebUI's queue lock). `should_yield(session_start)` is polled between
        items. Redis outages are waited out with back-off, logged once each."""
        backoff = Backoff()
        while not self.stopping.is_set():
            try:
                self.identify()
                break
            except QueueBusy as exc:
                log.error("Enhance queue: %s", exc)
                return
            except QueueUnavailable as exc:
                self._lost(exc)
                self.stopping.wait(backoff.next())
        beat = threading.Thread(target=self._beat_loop, daemon=True, name=f"enhance-beat-{self.id}")
        beat.start()
        try:
            while not self.stopping.is_set():
                try:
                    if time.monotonic() < self._pause_until or not self.has_work():
                        self.stopping.wait(poll)
                        continue
                    runner(functools.partial(self.session, _since(should_yield, time.time())))
                    self._recovered()
                    backoff.reset()
                except QueueUnavailable as exc:
                    self._lost(exc)
                    self.stopping.wait(backoff.next())
                except Exception:  # a worker thread must log, not vanish
                    log.exception("Enhance queue: worker %s failed; trying again", self.id)
                    self.stopping.wait(poll)
        finally:
            self.stopping.set()
            beat.join(timeout=5)
            with contextlib.suppress(QueueUnavailable):
                self.queue.forget_worker(self.id)

    def identify(self) -> None:
        """One live process per worker id. Another one's heartbeat under our id is waited out
        (a previous life of this server stops beating within `claim_after`); one that goes on
        is a second server with the same host name and port: QueueBusy, saying what to do."""
        claim = self.queue.config.claim_after
        deadline = time.monotonic() + claim * 1.5
        while not self.stopping.is_set():
            other = self.queue.heartbeat_of(self.id)
            if other is None or other.get("instance") == self.instance:
                return
            if time.monotonic() > deadline:
                raise QueueBusy(
                    f"another live worker ({other.get('host', '?')}, pid {other.get('pid', '?')})"
                    f" uses the worker id {self.id}; start this server with "
                    "--enhance-queue-worker-id NAME"
                )
            self.stopping.wait(min(1.0, claim / 4))

    def has_work(self) -> bool:
        streams = [s for v in self._job_views() for _, s in v.streams()]
        return self.queue.has_work(streams, self.id)

    def session(self, should_yield: Callable[[], bool] = lambda: False) -> int:
        """Take and run items until none is left for `idle_grace` s, the user wants the GPU, or
        `stopping`; one `checkpoint_scope` throughout. Returns the number of items handled."""
        host = self._host()
        detectors = self._detectors()
        handled, idle_since = 0, None
        backoff = Backoff()
        try:
            with host.checkpoint_scope():
                while not self.stopping.is_set() and not should_yield():
                    try:
                        delivery = self._next()
                        self._recovered()
                        backoff.reset()
                    except QueueDown as exc:
                        self._lost(exc)
                        self.stopping.wait(backoff.next())
                        delivery = None
                    if delivery is None:
                        idle_since = idle_since or time.monotonic()
                        if not self._views or time.monotonic() - idle_since >= self.idle_grace:
                            break
                        continue
                    idle_since = None
                    try:
                        self._handle(host, detectors, delivery, should_yield)
                    except _Yield:
                        break
                    handled += 1
        finally:
            self._release_held()
        return handled

    # ------------------------------------------------------------------ heartbeat

    def _beat_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.beat()
            except QueueUnavailable as exc:
                self._lost(exc)
            except Exception:
                log.exception("Enhance queue: heartbeat of %s failed", self.id)
            self.stopping.wait(self.beat_every)

    def beat(self) -> None:
        """Stay registered, keep in-flight entries ours, and look at new jobs (no GPU)."""
        info = {"pid": os.getpid(), "host": platform.node(), "instance": self.instance}
        self.queue.heartbeat(self.id, info)
        with self._lock:
            by_stream: dict[str, list[bytes]] = {}
            for entry_id, stream in self._inflight.items():
                by_stream.setdefault(stream, []).append(entry_id)
        for stream, ids in by_stream.items():
            self.queue.touch(stream, self.id, ids)
        self._job_views(max_age=0.0)

    def _lost(self, exc: Exception) -> None:
        if not self._outage:
            log.warning("Enhance queue: %s; retrying with back-off", exc)
        self._outage = True

    def _recovered(self) -> None:
        if self._outage:
            log.warning("Enhance queue: %s is back", self.queue.config.shown)
            self._outage = False
            self._own_first = True

    # ------------------------------------------------------------------ jobs and what we can run

    def _job_views(self, max_age: float = 0.5) -> list[JobView]:
        now = time.monotonic()
        if now - self._views_at >= max_age:
            active = self.queue.active_jobs()
            views = {}
            for job in active:
                view = self._views.get(job)
                if view is None or now - view.checked > 60:
                    view = self._look_at(job, now)
                if view is not None:
                    views[job] = view
            self._views, self._views_at = views, now
        return list(self._views.values())

    def _look_at(self, job: str, now: float) -> JobView | None:
        info = self.queue.job_info(job)
        try:
            stages = [str(s) for s in json.loads(info.get("stages", "[]"))]
        except (ValueError, TypeError):
            return None  # not a job (yet): its hash is written before it becomes active
        try:
            config = self.configs.validate(info.get("config", ""))
            refused = refusals(config, self._names())
        except InvalidEntry as exc:  # e.g. a newer Enhance on the starting server
            refused = dict.fromkeys(stages, f"this worker cannot read the settings: {exc}")
        except Exception:  # the host's lists: never a reason to stop working
            log.exception("Enhance queue: could not read this host's model lists")
            refused = {}
        for stage, why in refused.items():
            log.warning("Enhance queue: %s cannot run %s of job %s: %s", self.id, stage, job, why)
        self.queue.set_caps(job, self.id, refused)
        return JobView(job, stages, refused, now)

    # ------------------------------------------------------------------ taking items

    def _next(self) -> Delivery | None:
        """The next entry for this worker: held ones, its own unfinished ones, then per stream
        (lowest stage first) a claimable one of a silent worker, then a new one."""
        if self._held:
            return self._held.pop(0)
        order = [(v.job, n, s) for v in self._job_views() for n, s in v.streams()]
        if not order:
            self.stopping.wait(self.block_ms / 1000)
            return None
        if self._own_first:
            for job, number, stream in order:
                for entry_id, fields in self.queue.read_own(stream, self.id):
                    return self._deliver(job, number, stream, entry_id, fields)
            self._own_first = False
        now = time.monotonic()
        for job, number, stream in order:
            if now - self._last_claim.get(stream, 0.0) >= self.claim_every:
                self._last_claim[stream] = now
                for entry_id, fields in self.queue.claim(stream, self.id):
                    log.warning("Enhance queue: %s took over an item of a silent worker", self.id)
                    return self._deliver(job, number, stream, entry_id, fields)
            for _, entry_id, fields in self.queue.read_new([stream], self.id):
                return self._deliver(job, number, stream, entry_id, fields)
        got = self.queue.read_new([s for _, _, s in order], self.id, self.block_ms)
        rank = {s: i for i, (_, _, s) in enumerate(order)}
        deliveries = [
            self._deliver(order[rank[s]][0], order[rank[s]][1], s, eid, f)
            for s, eid, f in sorted(got, key=lambda g: rank.get(g[0], 0))
        ]
        self._held.extend(deliveries[1:])
        return deliveries[0] if deliveries else None

    def _deliver(
        self, job: str, number: int, stream: str, entry_id: bytes, fields: dict[bytes, bytes]
    ) -> Delivery:
        with self._lock:
            self._inflight[entry_id] = stream
        return Delivery(job, number, stream, entry_id, fields)

    def _done(self, delivery: Delivery) -> None:
        with self._lock:
            self._inflight.pop(delivery.entry_id, None)

    def _release_held(self) -> None:
        """Entries delivered together with another but not started go back to everyone."""
        held, self._held = self._held, []
        for delivery in held:
            try:
                if delivery.fields:
                    self.queue.release(delivery, self.id, entry_key(delivery.fields))
                else:
                    self.queue.ack(delivery)
                self._done(delivery)
            except QueueUnavailable:
                self._own_first = True  # still ours in Redis: re-read after the outage

    # ------------------------------------------------------------------ running one item

    def _handle(
        self, host: Any, detectors: Any, d: Delivery, should_yield: Callable[[], bool]
    ) -> None:
        if not d.fields:  # deleted while it was ours (the job finished or dropped it)
            self._send(lambda: self.queue.ack(d), d, should_yield)
            return
        began = time.perf_counter()
        try:
            item = decode_item(d.fields, self.configs)
            decoded = time.perf_counter() - began
        except InvalidEntry as exc:
            self._invalid(d, str(exc), should_yield)
            return
        tries, by = self.queue.take(d.job, item.key, self.id, item.name)
        if tries < 0:  # the job is gone
            self._send(lambda: self.queue.ack(d), d, should_yield)
            return
        if tries > MAX_TRIES:
            self._give_up(d, item.key, item.stage, by, should_yield)
            return
        stage = item.stage_def
        self.on_event("start", {"key": item.key, "name": item.name, "stage": stage.name})
        host.progress(f"queue: {stage.name} {item.name}", 0, 0)
        job = ImageJob(image=item.image, name=item.name, **item.job)
        ran = time.perf_counter()
        result, record = run_stage(host, stage, job, item.image, detectors)
        ran = time.perf_counter() - ran
        if record.status == "interrupted":
            self._send(lambda: self.queue.release(d, self.id, item.key, undo_try=True), d,
                       should_yield)  # fmt: skip
            self._pause_until = time.monotonic() + self.idle_grace
            self.on_event("interrupted", {"key": item.key})
            raise _Yield
        if record.status == "failed" and tries < MAX_TRIES:
            error = f"{self.id}: {record.error}"
            self._send(lambda: self.queue.release(d, self.id, item.key, error), d, should_yield)
            self.on_event("retry", {"key": item.key, "error": record.error})
            return
        encoded = time.perf_counter()
        png = png_bytes(result) if record.status == "ok" else b""
        encoded = time.perf_counter() - encoded
        out = Result(item.key, item.stage, self.id, stage_entry(record), png)
        self._send(lambda: self.queue.finish(d, self.id, encode_result(out)), d, should_yield)
        timing = {"seconds": time.perf_counter() - began, "stage_seconds": ran,
                  "transfer_seconds": decoded + encoded}  # fmt: skip
        self.on_event("done", {"key": item.key, "status": record.status, **timing})

    def _invalid(self, d: Delivery, why: str, should_yield: Callable[[], bool]) -> None:
        """A malformed item is never run; if it names its key, the image's stage fails."""
        log.error("Enhance queue: refused an invalid item of job %s: %s", d.job, why)
        key = entry_key(d.fields)
        if not key:
            self._send(lambda: self.queue.ack(d), d, should_yield)
            return
        self._fail(d, key, int(key.rsplit(".", 1)[1]), f"invalid item: {why}", False, should_yield)

    def _give_up(
        self, d: Delivery, key: str, stage: int, by: str, should_yield: Callable[[], bool]
    ) -> None:
        last = self.queue.last_error(d.job, key)
        earlier = by.rsplit(", ", 1)[0] if ", " in by else by
        why = last or f"the workers running it stopped ({earlier})"
        log.error("Enhance queue: gave up an item after %d tries: %s", MAX_TRIES, why)
        self._fail(d, key, stage, f"gave up after {MAX_TRIES} tries: {why}", not last,
                   should_yield)  # fmt: skip
        self.on_event("gave_up", {"key": key, "error": why})

    def _fail(
        self, d: Delivery, key: str, stage: int, error: str, fatal: bool, should_yield: Any
    ) -> None:
        entry = {"status": "failed", "error": error, "host_calls": 0, "seconds": 0.0,
                 "ran": {}, "seams": []}  # fmt: skip
        out = Result(key, stage, self.id, entry, b"", fatal)
        self._send(lambda: self.queue.finish(d, self.id, encode_result(out)), d, should_yield)

    def _send(self, op: Callable[[], Any], d: Delivery, should_yield: Callable[[], bool]) -> None:
        """Do a state change in Redis, waiting out an outage (the work is not lost: the entry
        stays ours until it succeeds). Giving up — the user wants the GPU, or we stop — leaves
        the entry in our pending list, redone after a restart or claimed by another worker."""
        backoff = Backoff()
        while True:
            try:
                op()
                self._recovered()
                self._done(d)
                return
            except QueueDown as exc:
                self._lost(exc)
                if self.stopping.is_set() or should_yield():
                    self._own_first = True
                    raise _Yield from exc
                self.stopping.wait(backoff.next())
