"""A WebUI as a queue worker (``--enhance-queue``), on the stand-in hosts with a real Redis.

The worker thread that `on_app_started` starts takes items under the host's generation lock
through the real host adapter (nested img2img jobs, checkpoint swap and restore), gives the GPU
back between items when a user's job is queued, and without the flag nothing of it — not even
redis-py — is loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from queue_support import redis_server

HOSTS = Path(__file__).parent / "hosts"
REPO = Path(__file__).resolve().parents[2]
CONFIG = {"hires": {"enabled": True, "upscaler": "Lanczos", "scale": 2.0, "denoise": 0.3,
                    "checkpoint": "other.safetensors"}}  # fmt: skip


def _folder(path: Path, n: int = 3) -> Path:
    path.mkdir()
    for i in range(n):
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", f"a fox {i}\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
                      f"Seed: {50 + i}, Size: 40x32")  # fmt: skip
        Image.new("RGB", (40, 32), (10 * i, 20, 30)).save(path / f"f{i}.png", pnginfo=info)
    return path


def _wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, predicate
        time.sleep(0.05)


@pytest.fixture
def queued(webui, tmp_path):
    """The stand-in host with --enhance-queue pointing at a fresh Redis (claim-after 1 s)."""
    from lib_enhance.webui import queue_worker

    with redis_server(tmp_path) as redis:
        opts = webui.shared.cmd_opts
        opts.enhance_queue, opts.enhance_queue_claim_after = redis.url, 1.0
        yield redis
        queue_worker.stop()
        opts.enhance_queue = None


def test_a_webui_worker_runs_a_queued_batch_through_the_host(webui, queued, tmp_path):
    from fastapi import FastAPI

    from lib_enhance.webui import host_adapter, queue_worker

    webui.script_callbacks.app_started_callback(None, FastAPI())  # as webui.py does
    worker = queue_worker._WORKER
    assert worker is not None and worker.id.endswith(":7860")
    service = host_adapter.batch_service()
    assert service.has_queue()
    out = tmp_path / "out"
    job = service.wait(service.start(str(_folder(tmp_path / "in")), str(out), CONFIG), 60)
    assert job.state == "finished", job.error
    assert job.totals["done"] == 3 and job.queue == queued.url
    assert job.workers == {worker.id: {"done": 3, "failed": 0, "alive": True, "current": ""}}
    inner = webui.inner_calls()
    assert len(inner) == 3 and {c["checkpoint"] for c in inner} == {webui.title("other")}
    _wait(lambda: webui.shared.state.job == "")  # the worker left the lock: job gone
    assert webui.loaded_title() == webui.title("base.safetensors")  # the user's, restored
    assert sorted(p.name for p in out.glob("*.png")) == ["f0.png", "f1.png", "f2.png"]
    assert Image.open(out / "f0.png").size == (80, 64)


def test_the_worker_gives_the_gpu_back_when_a_user_job_waits(webui, queued, tmp_path):
    from modules import progress

    from lib_enhance.batch.coordinator import run_queued_batch
    from lib_enhance.batch.worker import QueueWorker
    from lib_enhance.webui import host_adapter, queue_worker

    queue = queue_worker.shared_queue()
    done: list[str] = []

    def on_event(kind, data):
        if kind == "done":
            done.append(data["key"])
            progress.add_task_to_queue("task(user-click)")  # a Generate click waits now

    worker = QueueWorker(queue, "w1", lambda: host_adapter.WebUIHost(None),
                         host_adapter.host_names, host_adapter.detector_registry,
                         on_event=on_event)  # fmt: skip
    src, out = _folder(tmp_path / "in"), tmp_path / "out"
    coordinator = threading.Thread(target=run_queued_batch, args=(queue, src, out, CONFIG))
    coordinator.start()
    worker.beat()
    _wait(worker.has_work)
    started = time.time()
    handled = host_adapter.run_exclusive(
        lambda: worker.session(lambda: queue_worker.user_waiting(started))
    )
    assert handled == 1 and len(done) == 1  # stopped after the item the user waited for
    assert webui.loaded_title() == webui.title("base.safetensors")  # user's checkpoint back
    progress.start_task("task(user-click)")
    while coordinator.is_alive():  # the user's job is done: the worker takes the rest
        worker.beat()
        host_adapter.run_exclusive(lambda: worker.session(lambda: False))
        coordinator.join(0.1)
    assert len(done) == 3 and len(list(out.glob("*.png"))) == 3


def test_without_the_flag_nothing_of_the_queue_is_loaded(tmp_path):
    code = f"""
import json, sys
sys.path[:0] = [{str(HOSTS / "a1111")!r}, {str(HOSTS / "common")!r}]
from fastapi import FastAPI
from modules import _boot, script_callbacks
_boot.boot({str(tmp_path)!r})
_boot.load_extension_scripts({str(REPO)!r})
script_callbacks.app_started_callback(None, FastAPI())
from lib_enhance.webui import host_adapter, queue_worker
service = host_adapter.batch_service()
print(json.dumps({{"redis": "redis" in sys.modules, "queued": service.has_queue(),
                   "worker": queue_worker._WORKER is not None}}))
"""
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "GRADIO_ANALYTICS_ENABLED": "False"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "redis": False, "queued": False, "worker": False}  # fmt: skip
