"""Server file paths over /enhance/v1/enhance: refused (403) unless the owner allows them, and
never confused with base64 (a base64 JPEG starts with "/9j/")."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from lib_enhance.stages.pipeline import EnhanceResult
from lib_enhance.webui import api


def _service(calls, allow_paths=False):
    def enhance(image, config, **job):
        calls.append(image.size)
        return EnhanceResult(image, [])

    return api.Service(names=lambda: None, models=lambda: {}, enhance=enhance,
                       allow_paths=lambda: allow_paths)  # fmt: skip


def _jpeg_b64(size=(16, 8)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buf, format="JPEG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def test_base64_jpeg_is_an_image_not_a_path():
    data = _jpeg_b64()
    assert data.startswith("/9j/") and api.looks_like_path(data)  # looks like one, but …
    calls = []
    api.handle_enhance({"image": data}, _service(calls))  # … decodes first: no 403
    assert calls == [(16, 8)]


@pytest.mark.parametrize(
    "value", ["/srv/in/a.png", "./a.png", "../x/a.png", "~/a.png", "C:\\in\\a.png", "a.webp"]
)
def test_paths_in_the_image_field_need_the_flag(value):
    calls = []
    with pytest.raises(api.RequestError) as err:
        api.handle_enhance({"image": value}, _service(calls))
    assert err.value.status == 403 and "--enhance-allow-api-paths" in err.value.body["detail"]
    assert err.value.body["field"] == "image" and calls == []


def test_with_the_flag_a_path_is_read(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGB", (12, 6)).save(path)
    calls = []
    for body in ({"image": str(path)}, {"path": str(path)}):
        api.handle_enhance(body, _service(calls, allow_paths=True))
    assert calls == [(12, 6), (12, 6)]
    with pytest.raises(api.RequestError) as err:
        api.handle_enhance({"image": str(tmp_path / "missing.png")}, _service([], True))
    assert err.value.status == 422 and err.value.body["problems"][0]["field"] == "image"


def test_garbage_that_is_not_a_path_stays_a_422():
    with pytest.raises(api.RequestError) as err:
        api.handle_enhance({"image": "not an image"}, _service([], allow_paths=True))
    assert err.value.status == 422


def test_config_is_checked_before_the_path():
    with pytest.raises(api.RequestError) as err:
        api.handle_enhance({"path": "/etc/passwd", "config": {"hires": {"denoise": 3}}},
                           _service([]))  # fmt: skip
    assert err.value.status == 422
