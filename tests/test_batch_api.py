"""Batch service (worker thread, status, stop) and its HTTP routes (FastAPI TestClient)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lib_enhance.batch.run import BatchError
from lib_enhance.batch.service import BatchBusyError, BatchService
from lib_enhance.testing import TestHost
from lib_enhance.webui.batch_routes import PATHS_FLAG

CFG = {"hires": {"enabled": True, "scale": 2.0, "upscaler": "Lanczos"}}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(4):
        arr = np.full((48, 48, 3), 30 * i, np.uint8)
        arr[10:30, 10:30] = 200
        Image.fromarray(arr).save(src / f"x{i}.png")
    return src


class SlowHost(TestHost):
    __test__ = False

    def img2img(self, settings, items):
        time.sleep(0.05)
        return super().img2img(settings, items)


def test_service_runs_a_batch_in_the_background_and_reports_status(folder, tmp_path):
    service = BatchService(host=TestHost)
    job_id = service.start(str(folder), str(tmp_path / "out"), CFG)
    job = service.wait(job_id, timeout=60)
    assert job.state == "finished", job.error
    assert job.totals["done"] == 4 and Path(job.review).exists()
    assert job.progress["total"] == 4 and job.progress["stage"] == "hires"


def test_service_stop_then_resume(folder, tmp_path):
    service = BatchService(host=SlowHost)
    job_id = service.start(str(folder), str(tmp_path / "out"), CFG)
    with pytest.raises(BatchBusyError):
        service.start(str(folder), str(tmp_path / "other"), CFG)
    service.stop(job_id)
    job = service.wait(job_id, timeout=60)
    assert job.state == "stopped" and job.totals["done"] < 4
    again = service.wait(service.start(str(folder), str(tmp_path / "out"), None, resume=True), 60)
    assert again.state == "finished" and again.totals["done"] == 4


def test_service_refuses_an_output_inside_the_input_before_starting(folder):
    service = BatchService(host=TestHost)
    with pytest.raises(BatchError, match="inside the input folder"):
        service.start(str(folder), str(folder / "out"), CFG)
    assert not (folder / "out").exists()


def test_run_one_is_synchronous(folder, tmp_path):
    one = BatchService(host=TestHost).run_one(str(folder), str(tmp_path / "out"), CFG)
    assert one.after.exists() and one.qa is not None


def _client(service: BatchService, allow: bool):
    import fastapi
    from fastapi.testclient import TestClient

    from lib_enhance.webui.batch_routes import register_batch_routes

    app = fastapi.FastAPI()
    register_batch_routes(app, service, allow)
    return TestClient(app)


def test_api_refuses_folder_paths_without_the_flag(folder, tmp_path):
    client = _client(BatchService(host=TestHost), allow=False)
    body = {"input_dir": str(folder), "output_dir": str(tmp_path / "out"), "config": CFG}
    response = client.post("/enhance/v1/batch", json=body)
    assert response.status_code == 403
    assert PATHS_FLAG in response.json()["error"]
    assert not (tmp_path / "out").exists()


def test_api_starts_a_batch_and_reports_its_status(folder, tmp_path):
    service = BatchService(host=TestHost)
    client = _client(service, allow=True)
    body = {"input_dir": str(folder), "output_dir": str(tmp_path / "out"), "config": CFG}
    response = client.post("/enhance/v1/batch", json=body)
    assert response.status_code == 202
    job_id = response.json()["id"]
    service.wait(job_id, 60)
    status = client.get(response.json()["status"]).json()
    assert status["state"] == "finished" and status["totals"]["done"] == 4
    assert status["checkpoint_loads"] == 0
    assert client.get("/enhance/v1/batch/nope").status_code == 404


def test_api_names_bad_fields_and_bad_bodies(folder, tmp_path):
    client = _client(BatchService(host=TestHost), allow=True)
    bad = {
        "input_dir": str(folder),
        "output_dir": str(tmp_path / "o"),
        "config": {"hires": {"denoise": 3}},
    }
    response = client.post("/enhance/v1/batch", json=bad)
    assert response.status_code == 422
    assert response.json()["problems"][0]["field"] == "hires.denoise"
    response = client.post("/enhance/v1/batch", json={"input_dir": str(folder), "oops": 1})
    assert response.status_code == 400 and "oops" in response.json()["error"]
    inside = {"input_dir": str(folder), "output_dir": str(folder / "out")}
    response = client.post("/enhance/v1/batch", json=inside)
    assert response.status_code == 400 and "inside the input folder" in response.json()["error"]


@pytest.mark.parametrize("key", ["settings", "config"])
def test_api_takes_the_documented_settings_name_and_config_as_alias(folder, tmp_path, key):
    import json

    service = BatchService(host=TestHost)
    client = _client(service, allow=True)
    body = {"input_dir": str(folder), "output_dir": str(tmp_path / key), key: json.dumps(CFG)}
    response = client.post("/enhance/v1/batch", json=body)  # settings as JSON text, too
    assert response.status_code == 202, response.text
    service.wait(response.json()["id"], 60)
    out = Image.open(next((tmp_path / key).glob("*.png")))
    assert out.size == (96, 96)
    assert "Enhance hires upscaler: Lanczos" in out.info["Enhance"]  # no parameters to extend
    both = {**body, "settings": CFG, "config": CFG}
    assert client.post("/enhance/v1/batch", json=both).status_code == 422
