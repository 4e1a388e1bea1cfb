"""modules/scripts.py: Script, ScriptRunner and the argument holders (HOST_API §1).

Dispatch, argument slicing, the "only scripts that override the method" rule, the callback_map
cache and the log-and-continue error handling are the host's. Forge differences:
`PostprocessImageArgs(image, index)`, `sorting_priority`, `before_process_init_images`.
"""

import os
import re
from collections import namedtuple

from modules import errors
from modules._flavour import HOST

FORGE = HOST.forge_backend
AlwaysVisible = object()
CALLBACK_LOG: list[tuple] = []
"""(method, script title, id(p)) for every always-on callback actually called."""


class MaskBlendArgs:
    def __init__(
        self, current_latent, nmask, init_latent, mask, blended_latent, denoiser=None, sigma=None
    ):
        self.current_latent = current_latent
        self.nmask = nmask
        self.init_latent = init_latent
        self.mask = mask
        self.blended_latent = blended_latent
        self.denoiser = denoiser
        self.is_final_blend = denoiser is None
        self.sigma = sigma


class PostSampleArgs:
    def __init__(self, samples):
        self.samples = samples


if FORGE:

    class PostprocessImageArgs:
        def __init__(self, image, index):
            self.image = image
            self.index = index

else:

    class PostprocessImageArgs:
        def __init__(self, image):
            self.image = image


class PostProcessMaskOverlayArgs:
    def __init__(self, index, mask_for_overlay, overlay_image):
        self.index = index
        self.mask_for_overlay = mask_for_overlay
        self.overlay_image = overlay_image


class PostprocessBatchListArgs:
    def __init__(self, images):
        self.images = images


class Script:
    name = None
    section = None
    filename = None
    args_from = None
    args_to = None
    alwayson = False
    is_txt2img = False
    is_img2img = False
    tabname = None
    group = None
    create_group = True
    infotext_fields = None
    paste_field_names = None
    api_info = None
    on_before_component_elem_id = None
    on_after_component_elem_id = None
    setup_for_ui_only = False
    controls = None
    if HOST.sorting_priority:
        sorting_priority = 0

    def title(self):
        raise NotImplementedError()

    def ui(self, is_img2img):
        pass

    def show(self, is_img2img):
        return True

    def run(self, p, *args):
        pass

    def setup(self, p, *args):
        pass

    def before_process(self, p, *args):
        pass

    def process(self, p, *args):
        pass

    def before_process_batch(self, p, *args, **kwargs):
        pass

    def after_extra_networks_activate(self, p, *args, **kwargs):
        pass

    def process_before_every_sampling(self, p, *args, **kwargs):
        pass

    def process_batch(self, p, *args, **kwargs):
        pass

    def postprocess_batch(self, p, *args, **kwargs):
        pass

    def postprocess_batch_list(self, p, pp, *args, **kwargs):
        pass

    def on_mask_blend(self, p, mba, *args):
        pass

    def post_sample(self, p, ps, *args):
        pass

    def postprocess_image(self, p, pp, *args):
        pass

    def postprocess_maskoverlay(self, p, ppmo, *args):
        pass

    def postprocess_image_after_composite(self, p, pp, *args):
        pass

    def postprocess(self, p, processed, *args):
        pass

    def before_component(self, component, **kwargs):
        pass

    def after_component(self, component, **kwargs):
        pass

    def describe(self):
        return ""

    def elem_id(self, item_id):
        need_tabname = self.show(True) == self.show(False)
        tabkind = "img2img" if self.is_img2img else "txt2img"
        tabname = f"{tabkind}_" if need_tabname else ""
        title = re.sub(r"[^a-z_0-9]", "", re.sub(r"\s", "_", self.title().lower()))
        return f"script_{tabname}{title}_{item_id}"

    def before_hr(self, p, *args):
        pass


def _script_arg(control):
    """`api_models.ScriptArg` of a returned control (what /sdapi/v1/script-info lists)."""
    info = {"label": getattr(control, "label", None) or ""}
    for field in ("value", "minimum", "maximum", "step"):
        v = getattr(control, field, None)
        if v is not None:
            info[field] = v
    choices = getattr(control, "choices", None)
    if choices is not None:
        info["choices"] = [x[0] if isinstance(x, tuple) else x for x in choices]
    return info


def _script_info(script, args):
    try:
        import modules.api.models as api_models
    except Exception:  # not this venv's pydantic (A1111 models need v1): keep plain data
        return {"name": script.name, "is_alwayson": script.alwayson, "args": args}
    return api_models.ScriptInfo(
        name=script.name,
        is_img2img=script.is_img2img,
        is_alwayson=script.alwayson,
        args=[api_models.ScriptArg(**a) for a in args],
    )


ScriptClassData = namedtuple("ScriptClassData", ["script_class", "path", "basedir", "module"])
scripts_data: list = []
scripts_current = None


def basedir():
    return os.getcwd()


class ScriptRunner:
    def __init__(self):
        self.scripts = []
        self.selectable_scripts = []
        self.alwayson_scripts = []
        self.titles = []
        self.title_map = {}
        self.infotext_fields = []
        self.paste_field_names = []
        self.inputs = [None]
        self.callback_map = {}
        self.callback_names = []
        self.on_before_component_elem_id = {}
        self.on_after_component_elem_id = {}
        self.is_img2img = False

    def initialize_scripts(self, is_img2img):
        self.scripts.clear()
        self.alwayson_scripts.clear()
        self.selectable_scripts.clear()
        self.is_img2img = is_img2img
        for script_data in scripts_data:
            script = script_data.script_class()
            script.filename = script_data.path
            script.is_txt2img = not is_img2img
            script.is_img2img = is_img2img
            script.tabname = "img2img" if is_img2img else "txt2img"
            visibility = script.show(script.is_img2img)
            if visibility == AlwaysVisible:
                self.scripts.append(script)
                self.alwayson_scripts.append(script)
                script.alwayson = True
            elif visibility:
                self.scripts.append(script)
                self.selectable_scripts.append(script)
        if HOST.sorting_priority:
            self.alwayson_scripts.sort(key=lambda x: x.sorting_priority)
        self.callback_map.clear()

    def create_script_ui(self, script):
        script.args_from = len(self.inputs)
        script.args_to = len(self.inputs)
        controls = script.ui(script.is_img2img)
        if controls is None:
            return
        script.name = script.title().lower()
        script.controls = controls
        api_args = []
        for control in controls:
            # the host: ui-config.json keys of returned controls get `customscript/<file>/`
            control.custom_script_source = os.path.basename(script.filename)
            api_args.append(_script_arg(control))
        script.api_info = _script_info(script, api_args)
        self.inputs += list(controls)
        script.args_to = len(self.inputs)
        if script.infotext_fields is not None:
            self.infotext_fields += script.infotext_fields
        if script.paste_field_names is not None:
            self.paste_field_names += script.paste_field_names

    def setup_ui(self):
        global scripts_current
        scripts_current = self
        try:
            for script in self.alwayson_scripts:
                self.create_script_ui(script)
        finally:
            scripts_current = None
        return self.inputs

    def list_scripts_for_method(self, method_name):
        if method_name in ("before_component", "after_component"):
            return self.scripts
        return self.alwayson_scripts

    def create_ordered_callbacks_list(self, method_name, *, enable_user_sort=True):
        script_list = self.list_scripts_for_method(method_name)
        return [
            s
            for s in script_list
            if getattr(s.__class__, method_name, None) is not getattr(Script, method_name)
        ]

    def ordered_scripts(self, method_name):
        script_list = self.list_scripts_for_method(method_name)
        cached = self.callback_map.get(method_name)
        if cached is not None and cached[0] == len(script_list):
            return cached[1]
        callbacks = self.create_ordered_callbacks_list(method_name)
        self.callback_map[method_name] = (len(script_list), callbacks)
        return callbacks

    def _dispatch(self, method, p, *head, **kwargs):
        for script in self.ordered_scripts(method):
            try:
                script_args = p.script_args[script.args_from : script.args_to]
                CALLBACK_LOG.append((method, script.title(), id(p)))
                getattr(script, method)(p, *head, *script_args, **kwargs)
            except Exception:
                errors.report(f"Error running {method}: {script.filename}", exc_info=True)

    def before_component(self, component, **kwargs):
        for script in self.scripts:
            try:
                script.before_component(component, **kwargs)
            except Exception:
                errors.report(f"Error running before_component: {script.filename}", exc_info=True)

    def after_component(self, component, **kwargs):
        for script in self.scripts:
            try:
                script.after_component(component, **kwargs)
            except Exception:
                errors.report(f"Error running after_component: {script.filename}", exc_info=True)

    def run(self, p, *args):
        script_index = args[0]
        if script_index == 0 or script_index is None:
            return None
        script = self.selectable_scripts[script_index - 1]
        script_args = args[script.args_from : script.args_to]
        return script.run(p, *script_args)

    def setup_scrips(self, p, *, is_ui=True):
        for script in self.alwayson_scripts:
            if not is_ui and script.setup_for_ui_only:
                continue
            try:
                script_args = p.script_args[script.args_from : script.args_to]
                CALLBACK_LOG.append(("setup", script.title(), id(p)))
                script.setup(p, *script_args)
            except Exception:
                errors.report(f"Error running setup: {script.filename}", exc_info=True)

    def before_process(self, p):
        self._dispatch("before_process", p)

    def process(self, p):
        self._dispatch("process", p)

    def before_process_batch(self, p, **kwargs):
        self._dispatch("before_process_batch", p, **kwargs)

    def after_extra_networks_activate(self, p, **kwargs):
        self._dispatch("after_extra_networks_activate", p, **kwargs)

    def process_batch(self, p, **kwargs):
        self._dispatch("process_batch", p, **kwargs)

    def process_before_every_sampling(self, p, **kwargs):
        self._dispatch("process_before_every_sampling", p, **kwargs)

    def postprocess(self, p, processed):
        self._dispatch("postprocess", p, processed)

    def postprocess_batch(self, p, images, **kwargs):
        self._dispatch("postprocess_batch", p, images=images, **kwargs)

    def postprocess_batch_list(self, p, pp, **kwargs):
        self._dispatch("postprocess_batch_list", p, pp, **kwargs)

    def post_sample(self, p, ps):
        self._dispatch("post_sample", p, ps)

    def on_mask_blend(self, p, mba):
        self._dispatch("on_mask_blend", p, mba)

    def postprocess_image(self, p, pp):
        self._dispatch("postprocess_image", p, pp)

    def postprocess_maskoverlay(self, p, ppmo):
        self._dispatch("postprocess_maskoverlay", p, ppmo)

    def postprocess_image_after_composite(self, p, pp):
        self._dispatch("postprocess_image_after_composite", p, pp)

    def before_hr(self, p):
        self._dispatch("before_hr", p)

    if HOST.init_images_hook:

        def before_process_init_images(self, p, pp, **kwargs):
            for script in self.ordered_scripts("before_process_init_images"):
                try:
                    script_args = p.script_args[script.args_from : script.args_to]
                    CALLBACK_LOG.append(("before_process_init_images", script.title(), id(p)))
                    script.before_process_init_images(p, pp, *script_args, **kwargs)
                except Exception:
                    errors.report("Error running before_process_init_images", exc_info=True)

        def list_scripts_for_method(self, method_name):
            if method_name in ("before_component", "after_component"):
                return self.scripts
            return self.alwayson_scripts

        def create_ordered_callbacks_list(self, method_name, *, enable_user_sort=True):
            return [
                s
                for s in self.list_scripts_for_method(method_name)
                if hasattr(s.__class__, method_name)
                and getattr(s.__class__, method_name) is not getattr(Script, method_name, None)
            ]


scripts_txt2img: ScriptRunner = None
scripts_img2img: ScriptRunner = None
scripts_postproc = None


def script_name_to_index(name, scripts):
    try:
        return [script.title().lower() for script in scripts].index(name.lower())
    except Exception as e:
        raise Exception(f"Script '{name}' not found") from e
