"""Stand-in helper (not a host module): the API part of the host's `webui.py`.

Both hosts create the FastAPI `Api` first and call `app_started_callback(demo, app)` after it,
so an extension's `on_app_started` sees the `/sdapi/v1/*` routes already registered:
- `webui()`: the UI is launched, then `create_api(app)` when `--api` is on, then
  `app_started_callback(shared.demo, app)`;
- `api_only()` (`--nowebui`): `create_api(app)`, `before_ui_callback()`,
  `app_started_callback(None, app)`.
Without `--api` no `/sdapi` route exists and `app_started_callback` still runs.
"""

from fastapi import FastAPI
from modules import script_callbacks, shared


def create_api(app):
    from modules.api.api import Api
    from modules.call_queue import queue_lock

    return Api(app, queue_lock)


def start_app(*, api=True, nowebui=False):
    """(app, Api or None) the way webui()/api_only() leave them after start-up."""
    app = FastAPI()
    api_object = create_api(app) if api or nowebui else None
    demo = None if nowebui else shared.demo
    script_callbacks.app_started_callback(demo, app)
    return app, api_object
