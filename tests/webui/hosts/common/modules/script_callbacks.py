"""modules/script_callbacks.py: registration as in the host, `(callback, *, name=None)`."""

import dataclasses
from collections import defaultdict

from modules import errors


class ImageSaveParams:
    def __init__(self, image, p, filename, pnginfo):
        self.image = image
        self.p = p
        self.filename = filename
        self.pnginfo = pnginfo


@dataclasses.dataclass
class ScriptCallback:
    script: str
    callback: object
    name: str = None


callback_map = defaultdict(list)


def clear_callbacks():
    for callback_list in callback_map.values():
        callback_list.clear()


def _add(kind, callback, name=None):
    callback_map["callbacks_" + kind].append(ScriptCallback("enhance.py", callback, name))


def _run(kind, *args):
    for c in callback_map["callbacks_" + kind]:
        try:
            c.callback(*args)
        except Exception:
            errors.report(f"Error executing callback {c.script} {kind}", exc_info=True)


def on_app_started(callback, *, name=None):
    _add("app_started", callback, name)


def on_model_loaded(callback, *, name=None):
    _add("model_loaded", callback, name)


def on_ui_settings(callback, *, name=None):
    _add("ui_settings", callback, name)


def on_infotext_pasted(callback, *, name=None):
    _add("infotext_pasted", callback, name)


def on_before_image_saved(callback, *, name=None):
    _add("before_image_saved", callback, name)


def on_image_saved(callback, *, name=None):
    _add("image_saved", callback, name)


def on_script_unloaded(callback, *, name=None):
    _add("script_unloaded", callback, name)


def on_before_ui(callback, *, name=None):
    _add("before_ui", callback, name)


def on_before_reload(callback, *, name=None):
    _add("before_reload", callback, name)


def app_started_callback(demo, app):
    _run("app_started", demo, app)


def model_loaded_callback(sd_model):
    _run("model_loaded", sd_model)


def ui_settings_callback():
    _run("ui_settings")


def infotext_pasted_callback(infotext, params):
    _run("infotext_pasted", infotext, params)


def before_image_saved_callback(params):
    _run("before_image_saved", params)


def image_saved_callback(params):
    _run("image_saved", params)


def before_component_callback(component, **kwargs):
    pass


def after_component_callback(component, **kwargs):
    pass
