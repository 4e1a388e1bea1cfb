"""The Redis side of the folder batch's work queue: keys, connection, and every operation.

Redis Streams with consumer groups do the hard part — at-least-once delivery, a pending-entry
list per worker, and claiming a silent worker's entries (XAUTOCLAIM) — so there is no scheduler
of our own. Per job:

- one stream per stage (``…:s1``, ``…:s2`` …), consumer group ``workers``: the items. A worker
  reads a lower stage before a higher one, which makes the batch stage-major across workers;
- ``…:results``, group ``coordinator``: what workers send back to the starting server;
- small hashes: ``queued`` (item → entry id), ``tries`` and ``errors`` (the poison count and the
  last error), ``current`` (worker → image), ``caps`` (worker → stages it cannot run, and why);
- ``…:lease``: the starting server's claim on the job, so two servers never write one manifest.

Each state change that must not be half-done (send a result and acknowledge the item; put an
item back) is one Lua script, atomic in Redis and in its append-only file, and a no-op once the
job is gone, so a late duplicate never resurrects a finished job's keys. `redis` (redis-py) is
imported on first connection only: without ``--enhance-queue`` this module costs nothing.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

DEFAULT_CLAIM_AFTER = 30.0
PREFIX = "enhance"
JOBS = f"{PREFIX}:jobs"
WORKERS = f"{PREFIX}:workers"
WORKER_GROUP = "workers"
RESULT_GROUP = "coordinator"
RESULT_CONSUMER = "coordinator"
MAX_TRIES = 3
"""An item that failed (or killed its worker) this many times is given up."""

T = TypeVar("T")


class QueueUnavailable(RuntimeError):
    """Redis cannot be reached (or redis-py is missing). The message names the URL with its
    password hidden."""


class QueueDown(QueueUnavailable):
    """The connection broke while working: callers back off and retry."""


class QueueBusy(RuntimeError):
    """Another live server is already coordinating this batch, or already works under this
    worker id."""


def redact(url: str) -> str:
    """The URL with its password replaced by ***, safe for logs and error messages."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return "(an unparsable queue URL)"


@dataclass(frozen=True)
class QueueConfig:
    """Where the queue is and how long a silent worker keeps its items."""

    url: str
    claim_after: float = DEFAULT_CLAIM_AFTER

    @property
    def shown(self) -> str:
        return redact(self.url)

    @property
    def claim_ms(self) -> int:
        return max(1, int(self.claim_after * 1000))


@dataclass(frozen=True)
class JobKeys:
    """Key names of one job."""

    job: str

    @property
    def hash(self) -> str:
        return f"{PREFIX}:job:{self.job}"

    def stage(self, number: int) -> str:
        return f"{self.hash}:s{number}"

    def part(self, name: str) -> str:
        return f"{self.hash}:{name}"

    results = property(lambda self: self.part("results"))
    queued = property(lambda self: self.part("queued"))
    tries = property(lambda self: self.part("tries"))
    errors = property(lambda self: self.part("errors"))
    current = property(lambda self: self.part("current"))
    caps = property(lambda self: self.part("caps"))
    lease = property(lambda self: self.part("lease"))


def worker_key(worker: str) -> str:
    return f"{PREFIX}:worker:{worker}"


@dataclass
class Delivery:
    """An entry handed to this worker: which job, stage and stream, and its raw fields."""

    job: str
    stage: int
    stream: str
    entry_id: bytes
    fields: dict[bytes, bytes]


# ---------------------------------------------------------------------------- Lua scripts

_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, ''} end
local n = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
local by = redis.call('HGET', KEYS[2], ARGV[1] .. '|by')
if by then by = by .. ', ' .. ARGV[2] else by = ARGV[2] end
redis.call('HSET', KEYS[2], ARGV[1] .. '|by', by)
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
return {n, by}
"""
"""KEYS job, tries, current · ARGV item key, worker, image name → {tries so far, who tried}."""

_FINISH = """
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[4], ARGV[3])
redis.call('XADD', KEYS[3], 'NOMKSTREAM', '*', unpack(ARGV, 4))
return 1
"""
"""KEYS job, stage stream, results, current · ARGV group, entry id, worker, result fields…"""

_RELEASE = """
if #redis.call('XPENDING', KEYS[2], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3]) == 0 then
  return 0
end
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[4], ARGV[3])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[6], ARGV[4], ARGV[5]) end
if ARGV[6] == '1' then redis.call('HINCRBY', KEYS[5], ARGV[4], -1) end
local id = redis.call('XADD', KEYS[2], 'NOMKSTREAM', '*', unpack(ARGV, 7))
if id then redis.call('HSET', KEYS[3], ARGV[4], id) end
return 1
"""
"""Put an item back at the end of its stream — unless it is no longer this worker's (another
one claimed it meanwhile and will finish or release it). KEYS job, stage stream, queued,
current, tries, errors · ARGV group, entry id, worker, item key, error to keep ('' = none),
'1' = this try does not count, item fields…"""

_ENQUEUE = """
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
redis.call('HSET', KEYS[2], ARGV[1], id)
return id
"""
"""KEYS stage stream, queued · ARGV item key, item fields…"""

_REFRESH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
"""Extend a lease only while we still hold it."""


def _flat(fields: Mapping[bytes, bytes]) -> list[bytes]:
    return [part for pair in fields.items() for part in pair]


GONE = ("NOGROUP", "no longer exists")
"""Replies that mean the job's stream was deleted (the job finished) under a reader."""


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    """Connection failures become QueueDown, whose message hides the password."""

    @functools.wraps(method)
    def wrapper(self: RedisQueue, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except self.transient as exc:
            shown = self.config.shown
            raise QueueDown(f"cannot reach the Enhance queue at {shown}: {exc}") from exc

    return wrapper


class RedisQueue:
    """One connection pool to the queue, shared by the worker and the coordinator of a server."""

    def __init__(self, config: QueueConfig):
        self.config = config
        self._client: Any = None
        self._connecting = threading.Lock()
        self._scripts: dict[str, Any] = {}
        self.transient: tuple[type[BaseException], ...] = ()
        self.replies: tuple[type[BaseException], ...] = ()

    # ---- connection

    @property
    def client(self) -> Any:
        with self._connecting:
            if self._client is None:
                self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:
            raise QueueUnavailable(
                "the Enhance queue needs redis-py in the WebUI's Python (install.py installs it; "
                f"or run: pip install 'redis>=5'): {exc}"
            ) from exc
        self.transient = (redis.ConnectionError, redis.TimeoutError)
        self.replies = (redis.ResponseError,)
        try:
            client = redis.Redis.from_url(
                self.config.url,
                socket_connect_timeout=5,
                socket_timeout=10,
                retry=Retry(NoBackoff(), 0),
                health_check_interval=15,
            )
        except ValueError as exc:  # never echo the URL: it may hold the password
            raise QueueUnavailable(f"the Enhance queue URL {self.config.shown} is invalid") from exc
        for name, body in (("take", _TAKE), ("finish", _FINISH), ("release", _RELEASE),
                           ("enqueue", _ENQUEUE), ("refresh", _REFRESH)):  # fmt: skip
            self._scripts[name] = client.register_script(body)
        return client

    def ping(self) -> None:
        """Raise QueueUnavailable (URL shown without its password) unless Redis answers."""
        try:
            client = self.client
            client.ping()
            version = str(client.info("server").get("redis_version", "0"))
        except QueueUnavailable:
            raise
        except Exception as exc:
            raise QueueUnavailable(
                f"cannot reach the Enhance queue at {self.config.shown}: {exc}"
            ) from exc
        if int(version.split(".")[0] or 0) < 7:
            raise QueueUnavailable(
                f"the Enhance queue at {self.config.shown} runs Redis {version}; "
                "it needs 7 or newer"
            )

    def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        self.client  # noqa: B018 - connects and registers the scripts
        return self._scripts[name](keys=keys, args=args)

    # ---- workers: registry and liveness

    @_guarded
    def heartbeat(self, worker: str, info: Mapping[str, Any]) -> None:
        """This worker is alive for another `claim_after` seconds."""
        pipe = self.client.pipeline(transaction=False)
        pipe.set(worker_key(worker), json.dumps(dict(info)), px=self.config.claim_ms)
        pipe.sadd(WORKERS, worker)
        pipe.execute()

    @_guarded
    def heartbeat_of(self, worker: str) -> dict[str, Any] | None:
        """What the live process registered as `worker` said of itself, None if none is."""
        raw = self.client.get(worker_key(worker))
        try:
            return dict(json.loads(raw)) if raw else None
        except (ValueError, TypeError):
            return {}

    @_guarded
    def alive(self) -> dict[str, bool]:
        """Every worker ever registered → whether it heart-beat within `claim_after`."""
        names = sorted(w.decode() for w in self.client.smembers(WORKERS))
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.exists(worker_key(name))
        return {n: bool(v) for n, v in zip(names, pipe.execute(), strict=True)}

    @_guarded
    def forget_worker(self, worker: str) -> None:
        """A worker that shuts down cleanly leaves the registry at once."""
        pipe = self.client.pipeline(transaction=False)
        pipe.delete(worker_key(worker))
        pipe.srem(WORKERS, worker)
        pipe.execute()

    # ---- jobs

    @_guarded
    def open_job(self, job: str, fields: Mapping[str, str], stages: int) -> None:
        """Create the job's hash, streams and groups (or find them again); mark it active."""
        keys = JobKeys(job)
        self.client.hset(keys.hash, mapping=dict(fields))
        for number in range(1, stages + 1):
            self._group(keys.stage(number), WORKER_GROUP)
        self._group(keys.results, RESULT_GROUP)
        self.client.zadd(JOBS, {job: time.time()}, nx=True)

    def _group(self, stream: str, group: str) -> None:
        try:
            self.client.xgroup_create(stream, group, id="0", mkstream=True)
        except Exception as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    @_guarded
    def job_exists(self, job: str) -> bool:
        return bool(self.client.exists(JobKeys(job).hash))

    @_guarded
    def job_info(self, job: str) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.client.hgetall(JobKeys(job).hash).items()}

    @_guarded
    def active_jobs(self) -> list[str]:
        """Jobs workers should work on, oldest first."""
        return [j.decode() for j in self.client.zrange(JOBS, 0, -1)]

    @_guarded
    def deactivate(self, job: str) -> None:
        """Stop handing out the job's items (Stop); in-flight results stay for Resume."""
        self.client.zrem(JOBS, job)

    @_guarded
    def delete_job(self, job: str, stages: int) -> None:
        keys = JobKeys(job)
        names = [keys.hash, keys.results, keys.queued, keys.tries, keys.errors, keys.current,
                 keys.caps, keys.lease, *(keys.stage(n) for n in range(1, stages + 1))]  # fmt: skip
        pipe = self.client.pipeline(transaction=True)
        pipe.zrem(JOBS, job)
        pipe.delete(*names)
        pipe.execute()

    # ---- the coordinator's lease

    @_guarded
    def acquire_lease(self, job: str, owner: str) -> None:
        key = JobKeys(job).lease
        if self.client.set(key, owner, nx=True, px=self.config.claim_ms):
            return
        holder = (self.client.get(key) or b"").decode()
        if holder != owner:
            raise QueueBusy(
                f"this batch is being run by {holder or 'another server'}; if that server is "
                f"gone, Resume again after {self.config.claim_after:g} s"
            )

    @_guarded
    def refresh_lease(self, job: str, owner: str) -> bool:
        return bool(self._script("refresh", [JobKeys(job).lease], [owner, self.config.claim_ms]))

    @_guarded
    def release_lease(self, job: str, owner: str) -> None:
        key = JobKeys(job).lease
        if (self.client.get(key) or b"").decode() == owner:
            self.client.delete(key)

    # ---- the coordinator: items out, results in

    @_guarded
    def enqueue(self, job: str, stage: int, key: str, fields: Mapping[bytes, bytes]) -> bytes:
        keys = JobKeys(job)
        return self._script("enqueue", [keys.stage(stage), keys.queued], [key, *_flat(fields)])

    @_guarded
    def queued(self, job: str) -> dict[str, bytes]:
        """Item key → entry id of every item the coordinator has put in the queue."""
        return {k.decode(): v for k, v in self.client.hgetall(JobKeys(job).queued).items()}

    @_guarded
    def drop(self, job: str, stage: int, entry_ids: Iterable[bytes]) -> None:
        """Remove items nobody can run (their stage is recorded as failed instead)."""
        ids = list(entry_ids)
        if ids:
            stream = JobKeys(job).stage(stage)
            pipe = self.client.pipeline(transaction=True)
            pipe.xack(stream, WORKER_GROUP, *ids)
            pipe.xdel(stream, *ids)
            pipe.execute()

    @_guarded
    def read_results(
        self, job: str, count: int, block_ms: int | None, own: bool = False
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Results not yet acknowledged: `own` re-reads those a previous coordinator of this
        job received but did not finish (they are in the group's pending list)."""
        stream = JobKeys(job).results
        got = self.client.xreadgroup(
            RESULT_GROUP, RESULT_CONSUMER, {stream: "0" if own else ">"}, count=count,
            block=None if own else block_ms,
        )  # fmt: skip
        return [(eid, fields) for _, entries in got or [] for eid, fields in entries]

    @_guarded
    def ack_result(self, job: str, entry_id: bytes) -> None:
        stream = JobKeys(job).results
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(stream, RESULT_GROUP, entry_id)
        pipe.xdel(stream, entry_id)
        pipe.execute()

    @_guarded
    def tries(self, job: str) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.client.hgetall(JobKeys(job).tries).items()}

    @_guarded
    def current(self, job: str) -> dict[str, str]:
        """Worker → the image it is working on."""
        raw = self.client.hgetall(JobKeys(job).current)
        return {k.decode(): v.decode("utf-8", "replace") for k, v in raw.items()}

    @_guarded
    def caps(self, job: str) -> dict[str, dict[str, str]]:
        """Worker → {stage name: why it cannot run it} ({} = it can run every stage)."""
        out = {}
        for worker, text in self.client.hgetall(JobKeys(job).caps).items():
            try:
                value = json.loads(text)
            except ValueError:
                continue
            if isinstance(value, dict):
                out[worker.decode()] = {str(k): str(v) for k, v in value.items()}
        return out

    # ---- workers: items in, results out

    @_guarded
    def set_caps(self, job: str, worker: str, refused: Mapping[str, str]) -> None:
        self.client.hset(JobKeys(job).caps, worker, json.dumps(dict(refused)))

    def _unless_gone(self, call: Callable[[], T], default: T) -> T:
        """`call()`, or `default` when the job's stream was deleted under it (job finished)."""
        try:
            return call()
        except self.replies as exc:
            if any(mark in str(exc) for mark in GONE):
                return default
            raise

    def _read(self, streams: Mapping[str, str], worker: str, block_ms: int | None) -> Any:
        return self._unless_gone(
            lambda: self.client.xreadgroup(
                WORKER_GROUP, worker, dict(streams), count=1, block=block_ms
            ),
            [],
        )

    @_guarded
    def read_own(self, stream: str, worker: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """The first entry this worker was handed earlier and never finished (after a restart
        under the same id, or a result it could not send)."""
        got = self._read({stream: "0"}, worker, None)
        return [(eid, fields) for _, entries in got or [] for eid, fields in entries]

    @_guarded
    def read_new(
        self, streams: list[str], worker: str, block_ms: int | None = None
    ) -> list[tuple[str, bytes, dict[bytes, bytes]]]:
        """At most one new entry per stream (non-blocking unless `block_ms`)."""
        if not streams:
            return []
        got = self._read(dict.fromkeys(streams, ">"), worker, block_ms)
        return [(s.decode(), eid, f) for s, entries in got or [] for eid, f in entries]

    @_guarded
    def claim(self, stream: str, worker: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Take over one entry whose worker went silent for `claim_after` (XAUTOCLAIM)."""
        reply = self._unless_gone(
            lambda: self.client.xautoclaim(
                stream, WORKER_GROUP, worker, self.config.claim_ms, "0-0", count=1
            ),
            [b"0-0", [], []],
        )
        return [(eid, f) for eid, f in reply[1] if f]

    @_guarded
    def touch(self, stream: str, worker: str, entry_ids: list[bytes]) -> None:
        """Reset the idle time of entries this worker is still busy with, so nobody claims
        them while it heart-beats (XCLAIM to itself, JUSTID: no delivery counted)."""
        if entry_ids:
            self._unless_gone(
                lambda: self.client.xclaim(stream, WORKER_GROUP, worker, 0, entry_ids, justid=True),
                None,
            )

    @_guarded
    def has_work(self, streams: list[str], worker: str) -> bool:
        """Anything for this worker: an entry never delivered, one of its own, or a claimable
        one. Cheap enough to poll while idle without the GPU lock."""
        if not streams:
            return False
        pipe = self.client.pipeline(transaction=False)
        for stream in streams:
            pipe.xinfo_groups(stream)
            pipe.xrevrange(stream, count=1)
            pipe.xpending_range(stream, WORKER_GROUP, "-", "+", 1, consumername=worker)
            pipe.xpending_range(stream, WORKER_GROUP, "-", "+", 1, idle=self.config.claim_ms)
        replies = pipe.execute(raise_on_error=False)
        for i in range(0, len(replies), 4):
            groups, last, own, idle = replies[i : i + 4]
            if any(isinstance(r, Exception) for r in (groups, last, own, idle)):
                continue
            delivered = next(
                (g["last-delivered-id"] for g in groups if g["name"] == WORKER_GROUP.encode()),
                b"0-0",
            )
            if (last and _id(last[0][0]) > _id(delivered)) or own or idle:
                return True
        return False

    @_guarded
    def take(self, job: str, key: str, worker: str, name: str) -> tuple[int, str]:
        """Start an item: counts the try; (-1, "") when the job is gone."""
        keys = JobKeys(job)
        n, by = self._script("take", [keys.hash, keys.tries, keys.current], [key, worker, name])
        return int(n), (by or b"").decode()

    @_guarded
    def last_error(self, job: str, key: str) -> str:
        return (self.client.hget(JobKeys(job).errors, key) or b"").decode("utf-8", "replace")

    @_guarded
    def finish(self, d: Delivery, worker: str, result: Mapping[bytes, bytes]) -> bool:
        """Send the result and acknowledge the item, atomically; False when the job is gone."""
        keys = JobKeys(d.job)
        return bool(
            self._script(
                "finish",
                [keys.hash, d.stream, keys.results, keys.current],
                [WORKER_GROUP, d.entry_id, worker, *_flat(result)],
            )
        )

    @_guarded
    def release(
        self, d: Delivery, worker: str, key: str, error: str = "", undo_try: bool = False
    ) -> None:
        """Put an item back for any worker (after a failure that another try may fix, or an
        Interrupt); `undo_try` takes back the try `take` counted (an Interrupt is no failure)."""
        keys = JobKeys(d.job)
        self._script(
            "release",
            [keys.hash, d.stream, keys.queued, keys.current, keys.tries, keys.errors],
            [WORKER_GROUP, d.entry_id, worker, key, error, "1" if undo_try else "0",
             *_flat(d.fields)],
        )  # fmt: skip

    @_guarded
    def ack(self, d: Delivery) -> None:
        """Drop an entry that cannot be an item at all (nothing to retry)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(d.stream, WORKER_GROUP, d.entry_id)
        pipe.xdel(d.stream, d.entry_id)
        pipe.execute()


def _id(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.decode().partition("-")
    return int(ms), int(seq or 0)
