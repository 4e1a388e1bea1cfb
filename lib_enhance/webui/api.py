"""HTTP API: 422 for bad Enhance args on /sdapi/v1/txt2img|img2img, and /enhance/v1/* routes.

The host copies `alwayson_scripts` args into the scripts unchecked and swallows exceptions
raised in callbacks, so a typo would generate an image *without* Enhance and answer 200. We
therefore check the args before the host sees the request: the two routes' ASGI apps are wrapped
(in `on_app_started`) so that a request with invalid Enhance args is answered **422** with the
field, the value and what is allowed, and nothing is generated. The wrapper is plain ASGI, so it
works with both hosts' FastAPI/Starlette/pydantic versions and keeps the routes' own
dependencies (auth) and response models.

No `modules.*` import: the host lists and the enhance service are handed in.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

from ..spec import config as cfgmod
from ..spec.infotext import to_infotext
from . import controller

log = logging.getLogger("enhance")

SCRIPT_KEY = "enhance"
GUARDED = {"/sdapi/v1/txt2img": True, "/sdapi/v1/img2img": False}
"""Route path → is_txt2img."""


def enhance_entry(payload: Mapping[str, Any]) -> tuple[str, Any] | None:
    """(key, entry) of our script in `alwayson_scripts` (the host matches titles any case)."""
    scripts = payload.get("alwayson_scripts")
    if not isinstance(scripts, Mapping):
        return None
    for key, entry in scripts.items():
        if isinstance(key, str) and key.lower() == SCRIPT_KEY:
            return key, entry
    return None


def check_payload(
    payload: Any,
    is_txt2img: bool,
    names: cfgmod.HostNames | None,
    paths: list[Any] | None = None,
) -> cfgmod.ConfigError | None:
    """The problems with the Enhance part of a txt2img/img2img request body, or None."""
    if not isinstance(payload, Mapping):
        return None
    found = enhance_entry(payload)
    if found is None:
        return None
    key, entry = found
    where = f"alwayson_scripts.{key}"
    if not isinstance(entry, Mapping):
        return cfgmod.ConfigError([cfgmod.Problem(where, entry, 'an object {"args": [...]}')])
    args = entry.get("args", [])
    if not isinstance(args, list):
        return cfgmod.ConfigError([cfgmod.Problem(where + ".args", args, "a list")])
    try:
        enabled, config = controller.check(args, names, is_txt2img, paths)
    except cfgmod.ConfigError as exc:
        return exc
    if enabled and not cfgmod.any_stage_enabled(config):
        # asked for Enhance, but it would return the image untouched with a 200
        sent = args[1] if len(args) > 1 and isinstance(args[0], bool) else args[0]
        return cfgmod.ConfigError([cfgmod.Problem(
            "args[1]" if isinstance(args[0], bool) else "args[0]", sent,
            "settings with at least one stage on: hires.enabled, tiles.enabled or a detail pass",
            "Enhance is on but has nothing to run",
        )])  # fmt: skip
    return None


def error_body(exc: cfgmod.ConfigError) -> dict[str, Any]:
    """422 body: FastAPI-like `detail` text plus the structured problems."""
    return {"detail": f"Invalid Enhance arguments: {exc}", **exc.as_dict()}


# ---------------------------------------------------------------------------- ASGI guard

ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Any]


def guard(inner: ASGIApp, check: Callable[[Any], cfgmod.ConfigError | None]) -> ASGIApp:
    """Wrap an ASGI app: a POST whose JSON body fails `check` gets 422 and never reaches it."""

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST":
            await inner(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await inner(scope, _replay([message], receive), send)  # disconnect: host's job
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None  # the host answers malformed JSON itself
        error = check(payload)
        if error is not None:
            log.warning("Enhance: request refused (422): %s", error)
            await _send_json(send, 422, error_body(error))
            return
        message = {"type": "http.request", "body": body, "more_body": False}
        await inner(scope, _replay([message], receive), send)

    app.enhance_guard = True  # type: ignore[attr-defined]
    return app


def _replay(messages: list[dict], receive: Any) -> Any:
    pending = list(messages)

    async def replay() -> dict:
        return pending.pop(0) if pending else await receive()

    return replay


async def _send_json(send: Any, status: int, body: Any) -> None:
    data = json.dumps(body, ensure_ascii=False).encode("utf8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def guard_routes(
    app: Any,
    names: Callable[[], cfgmod.HostNames | None],
    paths: Callable[[], list[Any] | None] = lambda: None,
) -> list[Any]:
    """Wrap the host's txt2img/img2img routes in place; returns the routes wrapped.

    Idempotent (Reload UI calls on_app_started again with the same app).
    """
    done = []
    for route in getattr(app, "routes", []):
        path = getattr(route, "path", None)
        if path not in GUARDED or "POST" not in (getattr(route, "methods", None) or ()):
            continue
        if not getattr(route.app, "enhance_guard", False):
            is_txt2img = GUARDED[path]
            route.app = guard(
                route.app, lambda body, t=is_txt2img: check_payload(body, t, names(), paths())
            )
        done.append(route)
    return done


# ---------------------------------------------------------------------------- /enhance/v1


@dataclass
class Service:
    """What the routes need from the host (wired by the script, faked by tests)."""

    names: Callable[[], cfgmod.HostNames]
    models: Callable[[], dict[str, list[str]]]
    enhance: Callable[..., Any]
    """enhance(image, config, prompt=, negative_prompt=, seed=, steps=, sampler=, scheduler=,
    cfg=) -> pipeline.EnhanceResult"""
    allow_paths: Callable[[], bool] = lambda: False
    paths: Callable[[], list[Any] | None] = lambda: None
    """The settings behind the UI controls' positions in the script args (positional clients)."""


REQUEST_KEYS = {
    "image": "base64 PNG/JPEG (a data: URL is fine)",
    "path": "a file on the server (only with --enhance-allow-api-paths)",
    "settings": "the Enhance settings object, or JSON text of one (see /enhance/v1/schema)",
    "config": "the same as settings (an older name)",
    "prompt": "string",
    "negative_prompt": "string",
    "seed": "integer",
    "steps": "integer",
    "sampler": "string",
    "scheduler": "string",
    "cfg": "number",
}


class RequestError(ValueError):
    def __init__(self, status: int, body: dict[str, Any]):
        super().__init__(body.get("detail", ""))
        self.status = status
        self.body = body


def _problem(field: str, value: Any, allowed: str, hint: str = "") -> RequestError:
    return RequestError(422, error_body(cfgmod.ConfigError([cfgmod.Problem(field, value, allowed,
                                                                          hint)])))  # fmt: skip


def decode_image(data: Any) -> Image.Image:
    if not isinstance(data, str) or not data:
        raise _problem("image", _short(data), REQUEST_KEYS["image"])
    if data.startswith("data:"):
        data = data.split(",", 1)[-1]
    try:
        image = Image.open(io.BytesIO(base64.b64decode(data, validate=False)))
        image.load()
    except Exception as exc:  # PIL raises many kinds
        raise _problem("image", _short(data), REQUEST_KEYS["image"], str(exc)) from None
    return image.convert("RGB")


def encode_image(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _short(value: Any) -> Any:
    return value[:40] + "…" if isinstance(value, str) and len(value) > 40 else value


def handle_enhance(payload: Any, service: Service) -> dict[str, Any]:
    """POST /enhance/v1/enhance: validate everything first, then enhance one image."""
    if not isinstance(payload, Mapping):
        raise _problem("(body)", _short(payload), "an object with keys " + ", ".join(REQUEST_KEYS))
    for key in payload:
        if key not in REQUEST_KEYS:
            raise _problem(str(key), key, "keys " + ", ".join(REQUEST_KEYS), "unknown key")
    try:
        config = cfgmod.validate(controller.request_settings(payload), service.names())
        problems = controller.context_problems(config, is_txt2img=False)
        if problems:
            raise cfgmod.ConfigError(problems)
    except cfgmod.ConfigError as exc:
        raise RequestError(422, error_body(exc)) from None
    job = _job_fields(payload)
    if "path" in payload:
        image = _read_path("path", payload["path"], service)
    else:
        try:
            image = decode_image(payload.get("image"))
        except RequestError:
            if not looks_like_path(payload.get("image")):
                raise
            image = _read_path("image", payload["image"], service)
    result = service.enhance(image, config, **job)
    return {
        "image": encode_image(result.image),
        "info": to_infotext(config, result.ran, result.warnings),
        "ran": result.ran,
        "qa": result.qa,
        "warnings": result.warnings,
    }


PATHS_REFUSED = "file paths over the API need --enhance-allow-api-paths on the server"


def looks_like_path(value: Any) -> bool:
    """A server file name where base64 was expected ("/in/a.png", "C:\\in\\a.png", "~/a.png").

    Only asked after base64 decoding failed (a base64 JPEG starts with "/9j/")."""
    if not isinstance(value, str) or not value or value.startswith("data:"):
        return False
    head = value[:3]
    return (
        value.startswith(("/", "./", "../", "~", "\\"))
        or (len(head) == 3 and head[0].isalpha() and head[1] == ":" and head[2] in "\\/")
        or value.lower().endswith((".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"))
    )


def _read_path(field: str, value: Any, service: Service) -> Image.Image:
    """An image named by a server path: 403 unless the server owner allowed paths."""
    if not service.allow_paths():
        raise RequestError(403, {"detail": PATHS_REFUSED, "field": field})
    try:
        with Image.open(os.path.expanduser(str(value))) as image:
            return image.convert("RGB")
    except OSError as exc:
        raise _problem(field, value, "a readable image file", str(exc)) from None


def _job_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    kinds = {"prompt": str, "negative_prompt": str, "sampler": str, "scheduler": str,
             "seed": int, "steps": int, "cfg": (int, float)}  # fmt: skip
    out = {}
    for key, kind in kinds.items():
        if key not in payload:
            continue
        value = payload[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise _problem(key, value, REQUEST_KEYS[key])
        out[key] = value
    return out


def install(app: Any, service: Service, batch: Callable[[], Any] | None = None) -> None:
    """on_app_started: guard the host routes, add ours (only when the host API is on).

    `batch` gives the folder-batch job service; its routes get the same auth and the same
    `--enhance-allow-api-paths` switch as ours.
    """
    guarded = guard_routes(app, service.names, service.paths)
    if not guarded:
        log.info("Enhance: host API not enabled (--api); no Enhance API routes added")
        return
    from fastapi import Body
    from fastapi.responses import JSONResponse

    existing = {getattr(r, "path", None) for r in app.routes}

    def schema() -> dict[str, Any]:
        return cfgmod.json_schema()

    def models() -> dict[str, list[str]]:
        return service.models()

    def enhance(payload: Any = Body(...)) -> Any:  # noqa: B008 - FastAPI's idiom
        try:
            return handle_enhance(payload, service)
        except RequestError as exc:
            return JSONResponse(exc.body, status_code=exc.status)

    routes = {
        "/enhance/v1/schema": (schema, ["GET"]),
        "/enhance/v1/models": (models, ["GET"]),
        "/enhance/v1/enhance": (enhance, ["POST"]),
    }
    auth = list(getattr(guarded[0], "dependencies", None) or [])  # the host's --api-auth
    for path, (endpoint, methods) in routes.items():
        if path not in existing:
            app.add_api_route(path, endpoint, methods=methods, dependencies=auth)
    if batch is not None and BATCH_ROUTE not in existing:
        from .batch_routes import register_batch_routes

        register_batch_routes(app, batch(), service.allow_paths, dependencies=auth)


BATCH_ROUTE = "/enhance/v1/batch"
