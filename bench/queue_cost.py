"""Throughput of the queued folder batch with 1, 2 and 4 workers, and the queue's cost per item.

A folder of 24 small images (96×96, hires ×2, QA on); workers are separate processes on the
test host with a fixed cost per host call (a sleep, as a GPU would take: default 1 s), a real
redis-server on a free loopback port. Small images keep the CPU work (PNG, QA) far below the
host cost, as on a GPU server; the point is what the queue itself adds. Measured:

- `seconds[n]`: wall time of the batch with n workers (started and idle beforehand);
- `scaling[n]` = seconds[1] / seconds[n] (goals: ≥ 1.9 at 2 workers, ≥ 3.6 at 4);
- `overhead_ms_per_item`: what the queue adds per item — on the worker, everything around the
  stage (Redis round trips, checks, PNG decode of the item and encode of the result), and on
  the starting server, everything around store/QA/output (Redis, checks, PNG decode of the
  result) — with `transfer_ms_per_item`, the PNG part of it (goal: ≤ 10 ms plus the transfer);
- `local_seconds`: the same batch run by the local (single-server) folder batch.

    python bench/queue_cost.py [--images 24] [--cost 1.0] [--size 96] [--workers 1,2,4]

Prints JSON. Needs `redis-server` on PATH (Debian: apt-get install redis-server).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # queue_support

import numpy as np
from PIL import Image
from queue_support import Processes, RedisServer

from lib_enhance.batch.coordinator import run_queued_batch
from lib_enhance.batch.queue import QueueConfig, RedisQueue
from lib_enhance.batch.run import run_batch
from lib_enhance.testing import QueueTestHost, StaticRegistry

CONFIG = {"hires": {"enabled": True, "scale": 2.0, "upscaler": "Lanczos"}, "qa": {"enabled": True}}


def make_folder(folder: Path, count: int, size: int) -> None:
    from skimage import data

    photo = np.asarray(Image.fromarray(data.astronaut()).resize((size, size)))
    folder.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(np.roll(photo, 5 * i, axis=1)).save(folder / f"img{i:03d}.png")


def local_seconds(folder: Path, out: Path, cost: float) -> float:
    started = time.perf_counter()
    result = run_batch(QueueTestHost(cost=cost), folder, out, CONFIG, detectors=StaticRegistry())
    assert result.totals["done"] == len(list(folder.glob("*.png"))), result.totals
    return time.perf_counter() - started


def queued(folder: Path, redis: RedisServer, tmp: Path, workers: int, cost: float) -> dict:
    """Wall time with `workers` workers, and the per-item time the queue added."""
    procs = Processes(redis.url, tmp / f"w{workers}", claim_after=30.0)
    procs.tmp.mkdir()
    try:
        ids = [f"run{workers}-w{i}" for i in range(workers)]  # fresh ids: no old heartbeat
        for worker_id in ids:
            procs.worker(worker_id, cost=cost)
        procs.wait_for(lambda: all(procs.events(w, "ready") for w in ids), 120, "workers")
        queue = RedisQueue(QueueConfig(redis.url, 30.0))
        deadline = time.monotonic() + 30
        while len([w for w, ok in queue.alive().items() if ok and w in ids]) < workers:
            assert time.monotonic() < deadline, "workers did not register"
            time.sleep(0.05)
        started = time.perf_counter()
        result = run_queued_batch(queue, folder, tmp / f"out{workers}", CONFIG)
        seconds = time.perf_counter() - started
        assert result.totals["done"] == len(list(folder.glob("*.png"))), result.totals
        done = [e for w in ids for e in procs.events(w, "done")]
    finally:
        procs.close()
    coordinator = result.queue_seconds
    n = len(done)
    worker_queue = sum(e["seconds"] - e["stage_seconds"] for e in done) / n
    worker_transfer = sum(e["transfer_seconds"] for e in done) / n
    per_result = coordinator["results"] or 1
    return {
        "seconds": seconds,
        "overhead_ms": (worker_queue + (coordinator["queue"] + coordinator["transfer"])
                        / per_result) * 1000,
        "transfer_ms": (worker_transfer + coordinator["transfer"] / per_result) * 1000,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--cost", type=float, default=1.0)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        folder = tmp / "in"
        make_folder(folder, args.images, args.size)
        redis = RedisServer(tmp / "redis").start()
        try:
            local = local_seconds(folder, tmp / "local", args.cost)
            runs = {n: queued(folder, redis, tmp, n, args.cost) for n in counts}
        finally:
            redis.kill()
    one = runs[counts[0]]["seconds"] * counts[0]
    report = {
        "images": args.images,
        "image_size": [args.size, args.size],
        "cost_per_host_call_s": args.cost,
        "local_seconds": round(local, 2),
        "seconds": {n: round(r["seconds"], 2) for n, r in runs.items()},
        "scaling": {n: round(one / r["seconds"], 2) for n, r in runs.items()},
        "overhead_ms_per_item": {n: round(r["overhead_ms"], 1) for n, r in runs.items()},
        "transfer_ms_per_item": {n: round(r["transfer_ms"], 1) for n, r in runs.items()},
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
