"""The folder batch over a Redis work queue, against a real redis-server and worker processes.

Every case checks the effect that matters: each input yields exactly one output, pixel-equal
to what the local batch makes of it, and the manifest records each stage of each image once —
also when a worker is SIGKILLed mid-item, Redis restarts mid-job, or the starting server dies
and Resume takes over. Workers are separate processes on the recording test host, with a short
claim-after (2 s) so the kill cases stay quick.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from queue_support import Processes, RedisServer, make_folder, redis_server

from lib_enhance.batch import manifest as mf
from lib_enhance.batch.coordinator import run_queued_batch
from lib_enhance.batch.queue import QueueBusy, QueueConfig, RedisQueue
from lib_enhance.batch.run import run_batch
from lib_enhance.spec import config
from lib_enhance.testing import StaticRegistry, TestHost

N = 6
CLAIM_AFTER = 2.0
CONFIG = {
    "hires": {"enabled": True, "scale": 2.0, "upscaler": "Lanczos", "checkpoint": "B [bbbb2222]"},
    "detail": [{"model": config.BUILTIN_FACE, "checkpoint": "C [cccc3333]", "inpaint_size": 256}],
}
STAGES = ("hires", "detail 1")


@pytest.fixture
def redis(tmp_path: Path):
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def procs(redis: RedisServer, tmp_path: Path):
    processes = Processes(redis.url, tmp_path, CLAIM_AFTER)
    yield processes
    processes.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path / "in", {}, N)


@pytest.fixture
def reference(folder: Path, tmp_path: Path) -> dict[str, np.ndarray]:
    """The local batch's outputs: what the queued batch must reproduce pixel for pixel."""
    out = tmp_path / "reference"
    result = run_batch(TestHost(), folder, out, CONFIG, detectors=StaticRegistry())
    assert result.totals["done"] == N
    return _outputs(out)


def _outputs(out: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p)) for p in sorted(out.glob("*.png"))}


def _queue(redis: RedisServer) -> RedisQueue:
    return RedisQueue(QueueConfig(redis.url, CLAIM_AFTER))


def _start_workers(procs: Processes, *specs: tuple[str, tuple[str, ...]], cost: float) -> None:
    for worker_id, extra in specs:
        procs.worker(worker_id, *extra, cost=cost)
    procs.wait_for(lambda: all(procs.events(w, "ready") for w, _ in specs), 60, "workers ready")


def _manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / mf.MANIFEST_NAME).read_text())


def assert_exactly_once(out: Path, reference: dict[str, np.ndarray]) -> dict[str, Any]:
    """One output per input, equal to the local batch's, every stage recorded once."""
    outputs = _outputs(out)
    assert sorted(outputs) == sorted(reference)
    for name, pixels in reference.items():
        assert np.array_equal(outputs[name], pixels), name
    data = _manifest(out)
    for record in data["images"].values():
        assert record["status"] == "done" and sorted(record["stages"]) == sorted(STAGES)
        assert all(s["status"] == "ok" for s in record["stages"].values())
    assert not list((out / mf.WORK_DIR).glob("*.png"))  # intermediates cleaned up
    counts = data["queue"]["workers"]
    assert sum(c["done"] for c in counts.values()) == N * len(STAGES)  # duplicates dropped
    return data


def _started(procs: Processes, worker_id: str) -> list[str]:
    return [e["key"] for e in procs.events(worker_id, "start")]


def _in_thread(target: Any, *args: Any, **kwargs: Any) -> tuple[threading.Thread, dict]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = target(*args, **kwargs)
        except BaseException as exc:  # reported by the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def _joined(thread: threading.Thread, box: dict, procs: Processes, timeout: float = 90) -> Any:
    thread.join(timeout)
    assert not thread.is_alive(), f"the batch did not finish; logs: {procs.logs()}"
    if "error" in box:
        raise box["error"]
    return box["result"]


# ------------------------------------------------------------------------------ the cases


def test_both_workers_take_items_stage_major_and_match_the_local_batch(
    redis, procs, folder, reference, tmp_path
):
    _start_workers(procs, ("a", ()), ("b", ()), cost=0.1)
    statuses: list[dict] = []
    result = run_queued_batch(_queue(redis), folder, tmp_path / "out", CONFIG,
                              on_workers=lambda w, note: statuses.append(w))  # fmt: skip
    assert result.totals["done"] == N and not result.errors and result.review.exists()
    data = assert_exactly_once(tmp_path / "out", reference)
    counts = data["queue"]["workers"]
    assert set(counts) == {"a", "b"} and all(c["done"] > 0 for c in counts.values())
    for worker in "ab":  # stage-major: each checkpoint loaded once, then the user's restored
        loads = [e["checkpoint"] for e in procs.events(worker, "load")]
        assert loads[:2] == ["B [bbbb2222]", "C [cccc3333]"] and set(loads[2:]) <= {""}, loads
    assert statuses[-1]["a"]["alive"] and statuses[-1]["b"]["done"] == counts["b"]["done"]
    assert not _queue(redis).client.keys("enhance:job:*")  # the finished job leaves nothing


def test_a_worker_killed_mid_item_loses_it_to_the_other(redis, procs, folder, reference, tmp_path):
    _start_workers(procs, ("a", ()), ("b", ()), cost=0.4)
    thread, box = _in_thread(run_queued_batch, _queue(redis), folder, tmp_path / "out", CONFIG)
    procs.wait_for(lambda: _started(procs, "a"), 60, "a starts an item")
    killed = _started(procs, "a")[-1]
    procs.kill("a")
    result = _joined(thread, box, procs)
    assert result.totals["done"] == N
    assert killed in _started(procs, "b")  # claimed after a went silent
    assert_exactly_once(tmp_path / "out", reference)


@pytest.mark.parametrize("how", ["restarted", "killed"])
def test_redis_lost_mid_job(how, redis, procs, folder, reference, tmp_path):
    """Restarted: Redis writes its append-only file first. Killed (SIGKILL): up to a second
    of writes is lost — the queue must find and redo what went missing."""
    _start_workers(procs, ("a", ()), ("b", ()), cost=0.2)
    out = tmp_path / "out"
    thread, box = _in_thread(run_queued_batch, _queue(redis), folder, out, CONFIG)
    procs.wait_for(lambda: len(procs.events("a", "done") + procs.events("b", "done")) >= 3, 60)
    if how == "killed":
        redis.kill()
        time.sleep(0.5)
        redis.start()
    else:
        redis.restart(down_for=0.5)
    result = _joined(thread, box, procs)
    assert result.totals["done"] == N
    assert_exactly_once(out, reference)


def test_starting_server_killed_then_resume_finishes(redis, procs, folder, reference, tmp_path):
    _start_workers(procs, ("a", ()), ("b", ()), cost=0.2)
    out = tmp_path / "out"
    procs.coordinator("starter", folder, out, CONFIG)

    def stages_on_disk() -> bool:
        path = out / mf.MANIFEST_NAME
        return path.exists() and any(r["stages"] for r in _manifest(out)["images"].values())

    procs.wait_for(stages_on_disk, 60, "the first result on disk")
    procs.kill("starter")
    assert len(_outputs(out)) < N
    deadline = time.monotonic() + 10
    while True:  # the dead server's lease lapses after claim-after
        try:
            result = run_queued_batch(_queue(redis), folder, out, None)
            break
        except QueueBusy:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert result.totals["done"] == N
    assert_exactly_once(out, reference)


def test_a_worker_without_the_checkpoint_leaves_that_stage_to_the_other(
    redis, procs, folder, reference, tmp_path
):
    _start_workers(procs, ("a", ("--lack", "C [cccc3333]")), ("b", ()), cost=0.05)
    result = run_queued_batch(_queue(redis), folder, tmp_path / "out", CONFIG)
    assert result.totals["done"] == N
    assert_exactly_once(tmp_path / "out", reference)
    stages_a = {e["stage"] for e in procs.events("a", "start")}
    stages_b = [e["stage"] for e in procs.events("b", "start")]
    assert "detail 1" not in stages_a and stages_b.count("detail 1") == N


def test_a_stage_no_worker_can_run_fails_naming_the_model_and_the_workers(
    redis, procs, folder, tmp_path
):
    lack = ("--lack", "C [cccc3333]")
    _start_workers(procs, ("a", lack), ("b", lack), cost=0.05)
    result = run_queued_batch(_queue(redis), folder, tmp_path / "out", CONFIG)
    assert result.totals["done"] == N and result.totals["flagged"] == N  # best image kept
    for record in _manifest(tmp_path / "out")["images"].values():
        error = record["stages"]["detail 1"]["error"]
        assert record["stages"]["hires"]["status"] == "ok"
        assert "C [cccc3333]" in error and "asked a, b" in error
    assert len(_outputs(tmp_path / "out")) == N


def test_a_poison_image_fails_after_three_tries_and_the_job_goes_on(
    redis, procs, tmp_path, reference
):
    src = make_folder(tmp_path / "poisoned", {2: "photo number 2 poison"}, N)
    _start_workers(procs, ("a", ("--fail", "poison")), ("b", ("--fail", "poison")), cost=0.05)
    out = tmp_path / "out"
    result = run_queued_batch(_queue(redis), src, out, CONFIG)
    data = _manifest(out)
    poisoned = data["images"]["img2.png"]
    assert poisoned["status"] == "done"  # kept its best image (the input), flagged
    for stage in STAGES:
        assert poisoned["stages"][stage]["status"] == "failed"
        assert "gave up" not in poisoned["stages"][stage]["error"]
        assert "poisoned prompt" in poisoned["stages"][stage]["error"]
    retries = procs.events("a", "retry") + procs.events("b", "retry")
    assert len(retries) == 2 * len(STAGES)  # tries 1 and 2 put back, try 3 reported
    assert result.totals["done"] == N and result.totals["failed_stages"] == len(STAGES)
    others = {k: v for k, v in _outputs(out).items() if k != "img2.png"}
    assert all(np.array_equal(v, reference[k]) for k, v in others.items())


def test_an_image_that_kills_its_workers_is_given_up_after_three(redis, procs, tmp_path):
    src = make_folder(tmp_path / "deadly", {4: "photo number 4 crash"}, N)
    _start_workers(procs, ("a", ("--die", "crash")), ("b", ("--die", "crash")), cost=0.05)
    out = tmp_path / "out"
    thread, box = _in_thread(run_queued_batch, _queue(redis), src, out, CONFIG)
    restarts = 0
    while thread.is_alive() and restarts < 6:  # a supervisor restarts dead workers
        for worker in "ab":
            if procs.procs[worker].poll() is not None:
                restarts += 1
                procs.worker(worker, "--die", "crash", cost=0.05)
        time.sleep(0.1)
    result = _joined(thread, box, procs)
    record = _manifest(out)["images"]["img4.png"]
    assert record["status"] == "failed" and "gave up after 3 tries" in record["error"]
    assert "stopped" in record["error"] and restarts == 3
    assert result.totals["done"] == N - 1 and len(_outputs(out)) == N - 1
