"""The 422 guard on /sdapi/v1/txt2img|img2img, as plain ASGI (no FastAPI needed)."""

from __future__ import annotations

import asyncio
import json

import pytest

from lib_enhance.spec.config import HostNames
from lib_enhance.webui import api

NAMES = HostNames(
    {
        "upscaler": ["None", "Lanczos", "R-ESRGAN 4x+", "Latent"],
        "checkpoint": ["base.safetensors [216c4e9275]", "base.safetensors"],
    }
)


def call(body, is_txt2img=True):
    """POST `body` through the guard; returns (status, json, whether the host saw it)."""
    seen = []

    async def host(scope, receive, send):
        message = await receive()
        seen.append(json.loads(message["body"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    guarded = api.guard(host, lambda b: api.check_payload(b, is_txt2img, NAMES))
    raw = json.dumps(body).encode()
    chunks = [raw[: len(raw) // 2], raw[len(raw) // 2 :]]
    sent = []

    async def receive():
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/sdapi/v1/txt2img"}
    asyncio.run(guarded(scope, receive, send))
    status = sent[0]["status"]
    return status, json.loads(sent[1]["body"]), seen


def request(args):
    return {"prompt": "x", "alwayson_scripts": {"Enhance": {"args": args}}}


def test_valid_args_reach_the_host_unchanged():
    body = request([True, {"hires": {"enabled": True, "upscaler": "Lanczos"}}])
    status, _, seen = call(body)
    assert status == 200 and seen == [body]


def test_bare_dict_and_other_scripts_pass():
    assert call(request([{"hires": {"enabled": True}}]))[0] == 200
    assert call({"prompt": "x", "alwayson_scripts": {"ADetailer": {"args": [1]}}})[0] == 200
    assert call({"prompt": "x"})[0] == 200


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ([True, {"hires": {"denoisee": 0.3}}], "hires.denoisee"),
        ([True, {"hires": {"denoise": "high"}}], "hires.denoise"),
        ([True, {"hires": {"denoise": 1.5}}], "hires.denoise"),
        ([True, {"tiles": {"tile_size": 500}}], "tiles.tile_size"),
        ([True, {"hires": {"upscaler": "R-ESRGAN 4x"}}], "hires.upscaler"),
        ([True, {"hires": {"checkpoint": "nope.safetensors"}}], "hires.checkpoint"),
        ([True, {"preset": "photo"}], "preset"),
        ([True, {"detail": [{"merge": "all"}]}], "detail[0].merge"),
        (["yes", {}], "args[0]"),
        ([True, {"hirez": {}}], "hirez"),
    ],
)
def test_invalid_args_get_422_naming_the_field(args, field):
    status, body, seen = call(request(args))
    assert status == 422 and seen == []
    problem = body["problems"][0]
    assert problem["field"] == field and problem["allowed"]
    assert field in body["detail"]


def test_latent_upscaler_refused_for_img2img_only():
    args = [True, {"hires": {"enabled": True, "upscaler": "Latent"}}]
    assert call(request(args), is_txt2img=True)[0] == 200
    status, body, _ = call(request(args), is_txt2img=False)
    assert status == 422 and body["problems"][0]["field"] == "hires.upscaler"


def test_args_not_a_list():
    body = {"alwayson_scripts": {"enhance": {"args": {"hires": {}}}}}
    status, out, _ = call(body)
    assert status == 422 and out["problems"][0]["field"] == "alwayson_scripts.enhance.args"


def test_guard_routes_is_idempotent():
    class Route:
        def __init__(self, path):
            self.path, self.methods, self.app = path, {"POST"}, object()

    class App:
        def __init__(self):
            self.routes = [Route("/sdapi/v1/txt2img"), Route("/sdapi/v1/img2img"), Route("/x")]

    app = App()
    assert len(api.guard_routes(app, lambda: NAMES)) == 2
    first = app.routes[0].app
    api.guard_routes(app, lambda: NAMES)
    assert app.routes[0].app is first and not hasattr(app.routes[2].app, "enhance_guard")


def _service(calls, allow_paths=False):
    from PIL import Image

    from lib_enhance.stages.pipeline import EnhanceResult

    def enhance(image, config, **job):
        calls.append((image.size, config["hires"]["enabled"], job))
        return EnhanceResult(Image.new("RGB", (16, 16), (1, 2, 3)), [])

    return api.Service(names=lambda: NAMES, models=lambda: {}, enhance=enhance,
                       allow_paths=lambda: allow_paths)  # fmt: skip


def test_enhance_route_logic():
    from PIL import Image

    calls = []
    image = api.encode_image(Image.new("RGB", (8, 8)))
    body = {"image": "data:image/png;base64," + image, "prompt": "p", "seed": 5,
            "config": {"hires": {"enabled": True, "upscaler": "Lanczos"}}}  # fmt: skip
    out = api.handle_enhance(body, _service(calls))
    assert calls == [((8, 8), True, {"prompt": "p", "seed": 5})]
    assert out["info"].startswith("Enhance: hires, Enhance hires enabled: True, ") and out["image"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"image": "x", "config": {"hires": {"denoise": 2}}}, 422, "hires.denoise"),
        ({"image": "not base64!"}, 422, "image"),
        ({"imgae": "x"}, 422, "imgae"),
        ({"image": "x", "seed": "1"}, 422, "seed"),
        ({"path": "/etc/passwd"}, 403, None),
    ],
)
def test_enhance_route_refuses_before_doing_anything(body, status, field):
    calls = []
    with pytest.raises(api.RequestError) as err:
        api.handle_enhance(body, _service(calls))
    assert err.value.status == status and calls == []
    if field:
        assert err.value.body["problems"][0]["field"] == field
