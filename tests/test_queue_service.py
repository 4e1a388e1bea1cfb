"""A queued batch through the service, the HTTP routes and the Folder batch buttons: status with
the workers, Stop and Resume, and a queue that cannot be reached (URL shown, password never)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from queue_support import free_port, make_folder, redis_server

from lib_enhance.batch.queue import QueueConfig, QueueUnavailable, RedisQueue
from lib_enhance.batch.service import BatchService
from lib_enhance.batch.worker import QueueWorker
from lib_enhance.testing import QueueTestHost, StaticRegistry
from lib_enhance.webui.folder_batch import LOCAL_LABEL, FolderBatchActions

CFG = {"hires": {"enabled": True, "scale": 2.0, "upscaler": "Lanczos"}}
SECRET = "s3cret-pw"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path / "in", {}, 4)


@pytest.fixture
def redis(tmp_path: Path):
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def worker(redis):
    """One in-process worker on the test host (a sleep per host call), serving in a thread."""
    queue = RedisQueue(QueueConfig(redis.url, 1.0))
    host = QueueTestHost(cost=0.15)
    one = QueueWorker(queue, "w1", lambda: host, detectors=StaticRegistry, idle_grace=1.0,
                      block_ms=100)  # fmt: skip
    thread = threading.Thread(target=one.serve, kwargs={"poll": 0.05}, daemon=True)
    thread.start()
    yield one
    one.stopping.set()
    thread.join(10)


def _client(service: BatchService):
    import fastapi
    from fastapi.testclient import TestClient

    from lib_enhance.webui.batch_routes import register_batch_routes

    app = fastapi.FastAPI()
    register_batch_routes(app, service, True)
    return TestClient(app)


def _service(url: str) -> BatchService:
    queue = RedisQueue(QueueConfig(url, 1.0))
    return BatchService(host=QueueTestHost, detectors=StaticRegistry, queue=lambda: queue)


def test_status_lists_the_workers(redis, worker, folder, tmp_path):
    service = _service(redis.url)
    client = _client(service)
    body = {"input_dir": str(folder), "output_dir": str(tmp_path / "out"), "config": CFG}
    response = client.post("/enhance/v1/batch", json=body)
    assert response.status_code == 202
    seen = []
    while (status := client.get(response.json()["status"]).json())["state"] == "running":
        seen.append(status["workers"])
        time.sleep(0.05)
    assert status["state"] == "finished" and status["totals"]["done"] == 4
    assert status["workers"] == {"w1": {"done": 4, "failed": 0, "alive": True, "current": ""}}
    assert status["queue"] == redis.url and status["checkpoint_loads"] is None
    assert any(w.get("w1", {}).get("current", "").startswith("img") for w in seen)
    text = FolderBatchActions(lambda: service).status(status["id"])[1]
    assert "Workers: w1 (alive) 4 done, 0 failed." in text


def test_stop_leaves_the_rest_in_the_queue_and_resume_finishes(redis, worker, folder, tmp_path):
    service = _service(redis.url)
    out = tmp_path / "out"
    job = service.start(str(folder), str(out), CFG)
    while not any(out.glob("enhance-work/*.png")) and not any(out.glob("*.png")):
        time.sleep(0.02)
    service.stop(job)
    stopped = service.wait(job, 30)
    assert stopped.state == "stopped" and stopped.totals["done"] < 4
    resumed = service.wait(service.start(str(folder), str(out), None, resume=True), 60)
    assert resumed.state == "finished" and resumed.totals["done"] == 4
    assert sorted(p.name for p in out.glob("*.png")) == [f"img{i}.png" for i in range(4)]


def test_a_second_server_under_the_same_worker_id_is_refused(redis, caplog):
    caplog.set_level(logging.ERROR, logger="enhance")
    first = RedisQueue(QueueConfig(redis.url, 30.0))  # heart-beats for 30 s
    first.heartbeat("box:7860", {"pid": 11, "host": "box", "instance": "the-first"})
    twin = QueueWorker(RedisQueue(QueueConfig(redis.url, 0.5)), "box:7860", QueueTestHost)
    thread = threading.Thread(target=twin.serve, kwargs={"poll": 0.05}, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and "--enhance-queue-worker-id" in caplog.text
    assert first.heartbeat_of("box:7860")["instance"] == "the-first"  # left alone


def test_an_unreachable_queue_is_named_without_its_password(folder, tmp_path, caplog):
    url = f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"
    shown = url.replace(SECRET, "***")
    service = _service(url)
    with pytest.raises(QueueUnavailable) as err:
        service.start(str(folder), str(tmp_path / "out"), CFG)
    assert shown in str(err.value) and SECRET not in str(err.value)
    assert not (tmp_path / "out").exists()
    # the API: 503, and how to run it here instead
    body = {"input_dir": str(folder), "output_dir": str(tmp_path / "out"), "config": CFG}
    response = _client(service).post("/enhance/v1/batch", json=body)
    assert response.status_code == 503 and shown in response.json()["error"]
    assert SECRET not in response.text and '"local": true' in response.json()["hint"]
    # the UI offers to run locally, and that works
    actions = FolderBatchActions(lambda: service)
    assert actions.queued()
    _, text, _ = actions.run(str(folder), str(tmp_path / "out"), CFG, "")
    assert shown in text and LOCAL_LABEL in text and SECRET not in text
    _, text, job = actions.run(str(folder), str(tmp_path / "out"), CFG, "", local=True)
    assert service.wait(job, 60).state == "finished" and service.status(job).workers == {}
    # a worker started against it logs the URL without the password, and keeps trying
    caplog.set_level(logging.WARNING, logger="enhance")
    lonely = QueueWorker(RedisQueue(QueueConfig(url, 1.0)), "w9", QueueTestHost)
    thread = threading.Thread(target=lonely.serve, kwargs={"poll": 0.05}, daemon=True)
    thread.start()
    time.sleep(0.5)
    lonely.stopping.set()
    thread.join(10)
    assert shown in caplog.text and SECRET not in caplog.text
