"""The HTTP API through FastAPI on each host's real stack: the stand-in `modules.api.api.Api`
(A1111 1.10.1, Classic and reForge on fastapi 0.94 / pydantic 1, Forge and Neo on fastapi 0.104
/ pydantic 2), started the way `webui.py` starts it (the Api first, then
`on_app_started(demo, app)`), driven with FastAPI's TestClient.

Run in the matching venv: `-m gradio3` or `-m gradio4`; each test runs on every stand-in of that
venv's gradio (the `gradio_flavour` fixture).
"""

from __future__ import annotations

import base64
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from lib_enhance.spec import config as cfgmod

gr = pytest.importorskip("gradio")  # collected only where it is installed (tests/conftest.py)
MAJOR = int(gr.__version__.split(".")[0])
pytestmark = [pytest.mark.gradio3 if MAJOR == 3 else pytest.mark.gradio4]

HIRES = {"hires": {"enabled": True, "upscaler": "R-ESRGAN 4x+", "scale": 2.0, "denoise": 0.35,
                   "checkpoint": "other.safetensors"}}  # fmt: skip
LANCZOS = {"hires": {"enabled": True, "upscaler": "Lanczos", "scale": 2.0, "denoise": 0.3}}
DETECTOR_FILE = "tiny_face.pt"


@dataclass
class Server:
    webui: Any
    client: Any
    api: Any
    generated: list
    """Every `p` the host's API handed to `process_images`."""

    def post(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.client.post(path, json=body, **kwargs)

    def options(self) -> dict:
        response = self.client.get("/sdapi/v1/options")
        assert response.status_code == 200
        return response.json()


def _start(
    start_webui: Any,
    flavour: str,
    tmp_path: Path,
    monkeypatch: Any,
    cmd_opts: dict | None = None,
    **app_kwargs: Any,
) -> Server:
    """Boot the stand-in host (UI built with the real gradio), set the command-line flags,
    then start the app as webui.py does; `process_images` of the host's API is spied on."""
    from fastapi.testclient import TestClient

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))  # only our models folder counts
    models = tmp_path / "models" / "enhance"
    models.mkdir(parents=True)
    (models / DETECTOR_FILE).write_bytes(b"listed, never loaded")
    webui = start_webui(flavour)
    from modules import _webui, shared

    for key, value in (cmd_opts or {}).items():
        setattr(shared.cmd_opts, key, value)
    from modules.api import api as host_api

    generated: list = []
    real = host_api.process_images
    monkeypatch.setattr(host_api, "process_images", lambda p: generated.append(p) or real(p))
    app, api_object = _webui.start_app(**app_kwargs)
    return Server(webui, TestClient(app), api_object, generated)


@pytest.fixture
def server(start_webui, gradio_flavour, tmp_path, monkeypatch):
    return _start(start_webui, gradio_flavour, tmp_path, monkeypatch)


# ------------------------------------------------------------------------------ helpers


def b64(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def unb64(data: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image


def _entry(args: Any, entry: Any) -> Any:
    return {"args": args} if entry is None else entry


def txt2img_body(args: Any, entry: Any = None, **fields: Any) -> dict:
    body = {"prompt": "a cat", "negative_prompt": "blurry", "seed": 1000, "steps": 20,
            "sampler_name": "Euler a", "width": 64, "height": 48,
            "alwayson_scripts": {"Enhance": _entry(args, entry)}}  # fmt: skip
    from modules.processing import StableDiffusionProcessingTxt2Img

    if "hr_additional_modules" in StableDiffusionProcessingTxt2Img.__dataclass_fields__:
        body["hr_additional_modules"] = []  # Forge, Neo: else any Hires.fix request fails
    return {**body, **fields}


def img2img_body(args: Any, entry: Any = None, **fields: Any) -> dict:
    image = Image.new("RGB", (32, 24), (90, 30, 10))
    body = {"prompt": "a dog", "seed": 2000, "steps": 20, "sampler_name": "Euler a",
            "width": 32, "height": 24, "denoising_strength": 0.5, "init_images": [b64(image)],
            "alwayson_scripts": {"Enhance": _entry(args, entry)}}  # fmt: skip
    return {**body, **fields}


def enhance_record(text: str) -> dict:
    """Enhance's fields of an infotext: settings, one line per stage, warnings."""
    from modules import infotext_utils

    from lib_enhance.spec import infotext

    return infotext.summary(infotext_utils.parse_generation_parameters(text))


def status(line: str) -> str:
    from lib_enhance.spec import infotext

    return infotext.status_of(line)


def expected_hires(seed: int, size: tuple[int, int], code: int) -> Image.Image:
    """The stand-in's first pass → R-ESRGAN ×2 → img2img on the checkpoint with `code`."""
    from modules import processing, shared
    from modules.upscaler import FakeESRGAN

    first = Image.new("RGB", size, ((seed * 7) % 256, (seed * 13) % 256, 60))
    up = FakeESRGAN().upscale(first, 2.0, None)
    model = shared.sd_model
    saved, model.code = model.code, code
    try:
        return processing.diffuse(up, seed, 0.35, up.size)
    finally:
        model.code = saved


def assert_nothing_generated(server: Server) -> None:
    assert server.generated == []
    assert server.webui.processing.CALLS == []
    assert not [c for c in server.webui.scripts.CALLBACK_LOG if c[0] != "setup"]
    assert server.webui.sd_models.LOADS == []


# ------------------------------------------------------------------------------ start-up


def test_routes_are_guarded_and_added_after_the_hosts(server):
    paths = [getattr(r, "path", None) for r in server.client.app.routes]
    ours = ["/enhance/v1/schema", "/enhance/v1/models", "/enhance/v1/enhance",
            "/enhance/v1/batch", "/enhance/v1/batch/{job_id}"]  # fmt: skip
    assert all(p in paths for p in ours)
    assert paths.index("/sdapi/v1/txt2img") < min(paths.index(p) for p in ours)
    guarded = {r.path: getattr(r.app, "enhance_guard", False) for r in server.client.app.routes
               if getattr(r, "path", "").startswith("/sdapi/")}  # fmt: skip
    assert guarded == {p: p in ("/sdapi/v1/txt2img", "/sdapi/v1/img2img") for p in guarded}
    # the Api called ui() again for its defaults: [enabled, settings slot, *controls]
    from lib_enhance.webui import accordion

    script = server.webui.enhance_script()
    defaults = server.api.default_script_arg_txt2img[script.args_from : script.args_to]
    paths = accordion.layout(2)
    assert defaults[:2] == [False, None] and len(defaults) == 2 + len(paths)
    from_controls = accordion.settings_from_values(paths, defaults[2:])
    assert cfgmod.validate(from_controls) == cfgmod.defaults()
    # /sdapi/v1/script-info lists every position, labelled as the page labels it
    info = server.client.get("/sdapi/v1/script-info").json()
    ours = next(s for s in info if s["name"] == "enhance" and not s["is_img2img"])
    labels = [a["label"] for a in ours["args"]]
    assert labels[0] == "Enhance" and labels[1] == ""
    assert labels[2:] == [accordion.ui_label(p) for p in paths]
    assert len(set(labels[2:])) == len(paths)  # one ui-config.json key each
    assert "enhance" in server.client.get("/sdapi/v1/scripts").json()["txt2img"]


def test_reload_ui_does_not_add_routes_twice(server):
    from modules import script_callbacks

    before = len(server.client.app.routes)
    script_callbacks.app_started_callback(None, server.client.app)
    assert len(server.client.app.routes) == before
    assert server.webui.errors.REPORTS == []


def test_without_api_flag_nothing_is_added(
    start_webui, gradio_flavour, tmp_path, monkeypatch, caplog
):
    caplog.set_level("INFO", logger="enhance")
    server = _start(start_webui, gradio_flavour, tmp_path, monkeypatch, api=False)
    assert not any(getattr(r, "path", "").startswith(("/enhance", "/sdapi"))
                   for r in server.client.app.routes)  # fmt: skip
    assert "host API not enabled" in caplog.text
    assert server.webui.errors.REPORTS == []


def test_api_auth_covers_our_routes(start_webui, gradio_flavour, tmp_path, monkeypatch):
    server = _start(
        start_webui, gradio_flavour, tmp_path, monkeypatch, cmd_opts={"api_auth": "user:secret"}
    )
    for method, path in [("get", "/enhance/v1/schema"), ("get", "/enhance/v1/models"),
                         ("post", "/enhance/v1/enhance"), ("post", "/enhance/v1/batch"),
                         ("get", "/enhance/v1/batch/x")]:  # fmt: skip
        assert getattr(server.client, method)(path).status_code == 401, path
    ok = server.client.get("/enhance/v1/schema", auth=("user", "secret"))
    assert ok.status_code == 200


# ------------------------------------------------------------------------------ txt2img


def test_txt2img_with_enhance_returns_the_enhanced_image(server):
    webui = server.webui
    base, other = webui.title("base.safetensors"), webui.title("other.safetensors")
    response = server.post("/sdapi/v1/txt2img", txt2img_body([True, HIRES]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert webui.errors.REPORTS == []
    assert len(body["images"]) == 1
    image = unb64(body["images"][0])
    assert image.size == (128, 96)
    want = expected_hires(1000, (64, 48), code=120)
    assert image.convert("RGB").tobytes() == want.tobytes()

    info = json.loads(body["info"])
    record = enhance_record(info["infotexts"][0])
    assert record["config"]["hires"]["checkpoint"] == "other.safetensors"
    hires = record["stages"]["hires"]
    assert status(hires) == "ok" and "other.safetensors [" in hires
    assert other.split("[")[1].rstrip("]") in hires
    assert "Enhance: " in image.info["parameters"]  # the PNG the client got carries it too
    assert body["parameters"]["alwayson_scripts"]["Enhance"]["args"][1] == HIRES

    assert len(server.generated) == 1 and server.generated[0].is_api
    assert [c["checkpoint"] for c in webui.inner_calls()] == [other]
    assert webui.loaded_title() == base
    assert server.options()["sd_model_checkpoint"] == base
    loads = webui.sd_models.LOADS
    assert loads == ([base] if webui.forge else []) + [other, base]
    assert webui.enhance_script().controller.runs == {}


def test_bare_dict_and_any_case_title(server):
    body = txt2img_body(None, entry=None)
    body["alwayson_scripts"] = {"ENHANCE": {"args": [LANCZOS]}}
    response = server.post("/sdapi/v1/txt2img", body)
    assert response.status_code == 200, response.text
    assert unb64(response.json()["images"][0]).size == (128, 96)


def test_request_without_enhance_is_untouched(server):
    body = txt2img_body(None)
    del body["alwayson_scripts"]
    response = server.post("/sdapi/v1/txt2img", body)
    assert response.status_code == 200
    image = unb64(response.json()["images"][0])
    assert image.size == (64, 48) and "Enhance" not in image.info["parameters"]
    assert server.webui.inner_calls() == []


INVALID = [
    # (what is wrong, args, entry, field, value, allowed contains)
    ("unknown key (typo)", [True, {"hires": {"enabled": True, "denoisee": 0.3}}], None,
     "hires.denoisee", "denoisee", "denoise"),
    ("unknown section (typo)", [True, {"hirez": {"enabled": True}}], None,
     "hirez", "hirez", "hires"),
    ("wrong type", [True, {"hires": {"enabled": True, "denoise": "high"}}], None,
     "hires.denoise", "high", "number"),
    ("out of range", [True, {"hires": {"enabled": True, "denoise": 1.5}}], None,
     "hires.denoise", 1.5, "0 to 1"),
    ("unknown upscaler", [True, {"hires": {"enabled": True, "upscaler": "R-ESRGAN 4x"}}], None,
     "hires.upscaler", "R-ESRGAN 4x", "R-ESRGAN 4x+"),
    ("unknown checkpoint", [True, {"hires": {"enabled": True, "checkpoint": "nope.safetensors"}}],
     None, "hires.checkpoint", "nope.safetensors", "other.safetensors"),
    ("unknown detector", [True, {"detail": [{"enabled": True, "model": "face_yolov9.pt"}]}], None,
     "detail[0].model", "face_yolov9.pt", DETECTOR_FILE),
    ("enable switch not a bool", ["yes", {}], None, "args[0]", "yes", "true or false"),
    ("args not a list", None, {"args": {"hires": {"enabled": True}}},
     "alwayson_scripts.Enhance.args", {"hires": {"enabled": True}}, "a list"),
    ("entry not an object", None, [True, {}], "alwayson_scripts.Enhance", [True, {}], "args"),
    ("truncated JSON text", [True, '{"hires": {"enabled": true'], None,
     "args[1]", '{"hires": {"enabled": true', "JSON text"),
    ("JSON text of a list", [True, "[1, 2]"], None, "args[1]", "[1, 2]", "an object"),
    ("settings not an object", [True, 5], None, "args[1]", 5, "an object"),
    ("bare truncated JSON text", ['{"hires": '], None, "args[0]", '{"hires": ', "JSON text"),
    ("JSON text with a typo", [True, '{"hires": {"denoisee": 0.3}}'], None,
     "hires.denoisee", "denoisee", "denoise"),
    ("on with nothing to run", [True, {"qa": {"enabled": True}}], None,
     "args[1]", {"qa": {"enabled": True}}, "at least one stage"),
]  # fmt: skip


@pytest.mark.parametrize("route", ["txt2img", "img2img"])
@pytest.mark.parametrize(
    ("what", "args", "entry", "field", "value", "allowed"), INVALID, ids=[c[0] for c in INVALID]
)
def test_invalid_args_get_422_and_nothing_is_generated(
    server, route, what, args, entry, field, value, allowed
):
    make = txt2img_body if route == "txt2img" else img2img_body
    response = server.post(f"/sdapi/v1/{route}", make(args, entry=entry))
    assert response.status_code == 422, response.text
    body = response.json()
    problem = body["problems"][0]
    assert problem["field"] == field and problem["value"] == value
    assert allowed in problem["allowed"] + problem["hint"]
    assert field in body["detail"] and str(value) in body["detail"]
    assert_nothing_generated(server)


@pytest.mark.parametrize("route", ["txt2img", "img2img"])
def test_settings_as_json_text_run_like_the_object(server, route):
    """Clients that serialise nested objects send the settings as text: Enhance runs."""
    make = txt2img_body if route == "txt2img" else img2img_body
    for args in ([True, json.dumps(LANCZOS)], [json.dumps(LANCZOS)]):
        response = server.post(f"/sdapi/v1/{route}", make(args))
        assert response.status_code == 200, response.text
        image = unb64(response.json()["images"][0])
        assert image.size == ((128, 96) if route == "txt2img" else (64, 48))
        assert "Enhance hires: Lanczos" in image.info["parameters"]


def test_readme_examples_run_as_written(server, monkeypatch):
    """Every JSON example of the README, posted as written, is answered as documented."""
    import re

    from modules import _checkpoints, sd_models

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the README's YOLO model cannot be fetched here
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf8")
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", readme, re.S)]
    txt2img = next(b for b in blocks if "alwayson_scripts" in b)
    enhance = next(b for b in blocks if "image" in b)
    # the host has the checkpoint the example names (title "stylish_v2.safetensors [1a2b3c4d5e]")
    info = _checkpoints.CheckpointInfo("/models/Stable-diffusion/stylish_v2.safetensors")
    info.shorthash = "1a2b3c4d5e"
    info.title = f"{info.name} [{info.shorthash}]"
    info.ids += [info.title, info.shorthash]
    info.register(sd_models.checkpoints_list, sd_models.checkpoint_aliases)

    if server.webui.forge:  # Forge's own API needs it (HOST_API.md §13)
        txt2img["hr_additional_modules"] = []
    response = server.post("/sdapi/v1/txt2img", txt2img)
    assert response.status_code == 200, response.text
    image = unb64(response.json()["images"][0])
    assert image.size == (1024, 1536)
    record = enhance_record(image.info["parameters"])
    assert record["config"]["preset"] == "realistic"
    assert "stylish_v2.safetensors [1a2b3c4d5e]" in record["stages"]["hires"]
    # no detector runs in this venv: both detail passes are told, the image is kept
    assert "detail 1 failed" in record["warnings"] and "detail 2 failed" in record["warnings"]
    assert "hand_yolov8n.pt" in record["warnings"]

    response = server.post("/enhance/v1/enhance", enhance)
    assert response.status_code == 200, response.text
    out = response.json()
    assert unb64(out["image"]).size == (16, 16)
    assert set(out) >= {"image", "info", "ran", "qa", "warnings"}
    assert out["ran"]["hires"]["status"] == "ok" and out["warnings"] == []


def test_enhance_route_tells_a_failure_and_returns_the_image(server):
    source = Image.new("RGB", (32, 24), (90, 30, 10))
    settings = {"hires": {**LANCZOS["hires"], "checkpoint": "broken.safetensors"}}
    response = server.post("/enhance/v1/enhance", {"image": b64(source), "settings": settings})
    assert response.status_code == 200, response.text
    out = response.json()
    assert unb64(out["image"]).convert("RGB").tobytes() == source.tobytes()  # kept as it was
    assert out["ran"]["hires"]["status"] == "failed"
    assert len(out["warnings"]) == 1 and "broken.safetensors" in out["warnings"][0]
    assert "Enhance warnings: " in out["info"]


def test_latent_upscaler_is_refused_on_img2img_only(server):
    args = [True, {"hires": {"enabled": True, "upscaler": "Latent", "scale": 1.5}}]
    response = server.post("/sdapi/v1/img2img", img2img_body(args))
    assert response.status_code == 422
    assert response.json()["problems"][0]["field"] == "hires.upscaler"
    assert_nothing_generated(server)
    response = server.post("/sdapi/v1/txt2img", txt2img_body(args))
    assert response.status_code == 200, response.text
    assert unb64(response.json()["images"][0]).size == (96, 72)  # the host's own Hires.fix


def test_failed_checkpoint_load_leaves_the_users_checkpoint(server):
    webui = server.webui
    base = webui.title("base.safetensors")
    config = {"hires": {**HIRES["hires"], "checkpoint": "broken.safetensors"}}
    response = server.post("/sdapi/v1/txt2img", txt2img_body([True, config]))
    assert response.status_code == 200, response.text
    body = response.json()
    image = unb64(body["images"][0])
    assert image.size == (64, 48)  # the first pass: the hires stage failed, nothing half-done
    record = enhance_record(json.loads(body["info"])["infotexts"][0])
    assert status(record["stages"]["hires"]) == "failed"
    assert "broken.safetensors" in record["stages"]["hires"]
    # told where the user looks: the infotext's warnings (the API has no comments field)
    assert "hires failed" in record["warnings"] and "broken.safetensors" in record["warnings"]
    assert webui.loaded_title() == base
    assert server.options()["sd_model_checkpoint"] == base
    assert webui.errors.REPORTS == []
    # the next request runs on the user's checkpoint (Forge's stale forge_hash trap cleared)
    plain = txt2img_body([False, {}])
    response = server.post("/sdapi/v1/txt2img", plain)
    assert response.status_code == 200
    assert unb64(response.json()["images"][0]).convert("RGB").getpixel((0, 0))[2] == 60
    assert webui.loaded_title() == base


# ------------------------------------------------------------------------------ img2img


def test_img2img_with_enhance(server):
    response = server.post("/sdapi/v1/img2img", img2img_body([True, LANCZOS]))
    assert response.status_code == 200, response.text
    body = response.json()
    image = unb64(body["images"][0])
    assert image.size == (64, 48)
    record = enhance_record(json.loads(body["info"])["infotexts"][0])
    assert status(record["stages"]["hires"]) == "ok"
    assert body["parameters"]["init_images"] is None  # include_init_images=False, as the host
    inner = server.webui.inner_calls()
    assert len(inner) == 1 and inner[0]["size"] == (64, 48) and inner[0]["denoise"] == 0.3


# ------------------------------------------------------------------------------ /enhance/v1


def _conforms(value: Any, schema: dict, where: str = "$") -> list[str]:
    """The subset of JSON schema we publish, checked by hand (jsonschema is not in every venv)."""
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool,
             "integer": int, "number": (int, float)}  # fmt: skip
    kind = kinds[schema["type"]]
    if not isinstance(value, kind) or (schema["type"] in ("integer", "number")
                                       and isinstance(value, bool)):  # fmt: skip
        return [f"{where}: {value!r} is not {schema['type']}"]
    out = []
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {value!r} not in enum")
    if "minimum" in schema and value < schema["minimum"]:
        out.append(f"{where}: below minimum")
    if "maximum" in schema and value > schema["maximum"]:
        out.append(f"{where}: above maximum")
    if schema["type"] == "object":
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            out += [f"{where}.{k}: not allowed" for k in value if k not in props]
        for key, sub in props.items():
            if key in value:
                out += _conforms(value[key], sub, f"{where}.{key}")
    if schema["type"] == "array":
        for i, item in enumerate(value):
            out += _conforms(item, schema["items"], f"{where}[{i}]")
    return out


def test_schema_route(server):
    response = server.client.get("/enhance/v1/schema")
    assert response.status_code == 200
    schema = response.json()
    assert schema["$schema"].startswith("https://json-schema.org/draft/2020-12")
    props = schema["properties"]
    assert set(props) == {"preset", *(s.name for s in cfgmod.SECTIONS)}
    for section in cfgmod.SECTIONS:
        node = props[section.name]["items"] if section.repeated else props[section.name]
        assert set(node["properties"]) == {f.name for f in section.fields}, section.name
        assert node["additionalProperties"] is False
    full = cfgmod.validate({"hires": {"enabled": True}, "detail": [{}, {}]})
    assert _conforms(full, schema) == []
    assert _conforms({"hires": {"denoisee": 0.3}}, schema) == ["$.hires.denoisee: not allowed"]
    assert _conforms({"hires": {"denoise": 1.5}}, schema) == ["$.hires.denoise: above maximum"]
    try:
        import jsonschema
    except ImportError:  # Forge's stack has no jsonschema; the hand check above stands
        return
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(full, schema)


def test_models_route(server):
    response = server.client.get("/enhance/v1/models")
    assert response.status_code == 200
    models = response.json()
    webui = server.webui
    names = ("base.safetensors", "other.safetensors", "broken.safetensors")
    assert models["checkpoints"] == [webui.title(n) for n in names]
    assert models["upscalers"][:5] == ["None", "Lanczos", "Nearest", "R-ESRGAN 4x+",
                                       "4x-UltraSharp"]  # fmt: skip
    assert "Latent (bicubic)" in models["upscalers"]
    vaes = ["vae-ft-mse.safetensors"] if webui.forge else ["Automatic", "None",
                                                             "vae-ft-mse.safetensors"]  # fmt: skip
    assert models["vaes"] == vaes
    assert models["detectors"][:2] == [cfgmod.BUILTIN_FACE, DETECTOR_FILE]
    assert "face_yolov8n.pt" in models["detectors"]  # downloadable on first use
    assert models["samplers"] == ["DPM++ 2M", "Euler a", "Euler"]
    assert "Karras" in models["schedulers"]
    assert webui.sd_models.LOADS == []


def test_enhance_route(server):
    webui = server.webui
    source = Image.new("RGB", (32, 24), (90, 30, 10))
    body = {"image": b64(source), "settings": LANCZOS, "prompt": "p", "seed": 5, "steps": 12}
    response = server.post("/enhance/v1/enhance", body)
    assert response.status_code == 200, response.text
    out = response.json()
    image = unb64(out["image"])
    assert image.size == (64, 48)
    assert out["ran"]["hires"]["status"] == "ok"
    assert "Enhance hires upscaler: Lanczos" in out["info"] and out["warnings"] == []
    inner = webui.inner_calls()
    assert len(inner) == 1
    assert inner[0]["seeds"] == [5] and inner[0]["prompts"] == ["p"] and inner[0]["steps"] == 12
    assert server.generated == []  # not a txt2img/img2img round trip
    assert webui.shared.state.job_count == 0  # begun and ended like a host job
    assert webui.loaded_title() == webui.title("base.safetensors")


@pytest.mark.parametrize(
    ("body", "field", "value"),
    [
        ({"image": "AAAA", "config": {"hires": {"denoise": 2}}}, "hires.denoise", 2),
        ({"image": "AAAA", "config": {"hires": {"upscaler": "R-ESRGAN 4x"}}},
         "hires.upscaler", "R-ESRGAN 4x"),
        ({"imgae": "AAAA"}, "imgae", "imgae"),
        ({"image": "not an image"}, "image", "not an image"),
        ({"image": "AAAA", "seed": "1"}, "seed", "1"),
        ({"image": "AAAA", "settings": "{oops"}, "settings", "{oops"),
        ({"image": "AAAA", "settings": {}, "config": {}}, "config", "both settings and config"),
    ],
)  # fmt: skip
def test_enhance_route_refuses_invalid_requests(server, body, field, value):
    response = server.post("/enhance/v1/enhance", body)
    assert response.status_code == 422, response.text
    problem = response.json()["problems"][0]
    assert problem["field"] == field and problem["value"] == value
    assert server.webui.inner_calls() == []


def test_enhance_route_file_paths_need_the_flag(server, tmp_path, monkeypatch):
    from modules import shared

    path = tmp_path / "on-the-server.png"
    Image.new("RGB", (32, 24), (1, 2, 3)).save(path)
    for body in ({"path": str(path), "config": LANCZOS}, {"image": str(path), "config": LANCZOS}):
        response = server.post("/enhance/v1/enhance", body)
        assert response.status_code == 403, response.text
        assert "--enhance-allow-api-paths" in response.json()["detail"]
    assert server.webui.inner_calls() == []

    monkeypatch.setattr(shared.cmd_opts, "enhance_allow_api_paths", True)
    for body in ({"path": str(path), "config": LANCZOS}, {"image": str(path), "config": LANCZOS}):
        response = server.post("/enhance/v1/enhance", body)
        assert response.status_code == 200, response.text
        assert unb64(response.json()["image"]).size == (64, 48)
    missing = server.post("/enhance/v1/enhance", {"path": str(tmp_path / "nope.png")})
    assert missing.status_code == 422 and missing.json()["problems"][0]["field"] == "path"


# ------------------------------------------------------------------------------ folder batch


def _folder(tmp_path: Path) -> tuple[Path, Path]:
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    Image.new("RGB", (32, 24), (200, 10, 10)).save(src / "a.png")
    Image.new("RGB", (40, 32), (10, 200, 10)).save(src / "b.png")
    return src, dst


def _wait(server: Server, job_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = server.client.get(f"/enhance/v1/batch/{job_id}")
        assert status.status_code == 200, status.text
        body = status.json()
        if body["state"] not in ("queued", "running") or time.monotonic() > deadline:
            return body
        time.sleep(0.02)


def test_batch_needs_the_paths_flag(server, tmp_path):
    src, dst = _folder(tmp_path)
    body = {"input_dir": str(src), "output_dir": str(dst), "config": HIRES}
    response = server.post("/enhance/v1/batch", body)
    assert response.status_code == 403
    assert "--enhance-allow-api-paths" in response.json()["error"]
    assert not dst.exists() and server.webui.inner_calls() == []
    assert server.client.get("/enhance/v1/batch/nope").status_code == 404


def test_batch_runs_a_folder_with_the_flag(server, tmp_path, monkeypatch):
    from modules import shared

    monkeypatch.setattr(shared.cmd_opts, "enhance_allow_api_paths", True)
    webui = server.webui
    base, other = webui.title("base.safetensors"), webui.title("other.safetensors")
    src, dst = _folder(tmp_path)
    bad = server.post("/enhance/v1/batch", {"input_dir": str(src), "output_dir": str(dst),
                                           "config": {"hires": {"denoisee": 1}}})  # fmt: skip
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "hires.denoisee"

    body = {"input_dir": str(src), "output_dir": str(dst), "config": HIRES}
    response = server.post("/enhance/v1/batch", body)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    status = _wait(server, job_id)
    assert status["state"] == "finished", status
    assert status["id"] == job_id and status["errors"] == []
    assert sorted(p.name for p in dst.glob("*.png")) == ["a.png", "b.png"]
    assert Image.open(dst / "a.png").size == (64, 48)
    assert Image.open(dst / "b.png").size == (80, 64)
    # one batched hires pass on `other` for both images, then one restore
    inner = webui.inner_calls()
    assert [c["checkpoint"] for c in inner] == [other] * len(inner)
    assert status["checkpoint_loads"] == 2
    loads = webui.sd_models.LOADS
    assert loads == [other, base]  # on Forge too: nothing was loaded before (§13)
    assert webui.loaded_title() == base
    assert webui.shared.state.job_count == 0
    assert list(src.iterdir()) and sorted(p.name for p in src.iterdir()) == ["a.png", "b.png"]
