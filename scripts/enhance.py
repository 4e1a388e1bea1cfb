"""Enhance for AUTOMATIC1111 WebUI 1.10 and the Forge family: the always-on script (wiring only).

Everything with logic lives in `lib_enhance`: the accordion (`webui.accordion`), the callbacks
(`webui.controller`), the host adapter (`webui.host_adapter`), the API (`webui.api`), the
stages (`stages.pipeline`). Layers: docs/ARCHITECTURE.md.
Args are `[enabled, settings, *controls]`: API clients send `[enabled, {settings}]`; the UI
leaves `settings` None and the controls speak (`accordion.layout`).
"""

from __future__ import annotations

import os

from modules import script_callbacks, scripts, shared

from lib_enhance.spec import infotext
from lib_enhance.webui import (
    accordion,
    api,
    capabilities,
    controller,
    folder_batch,
    host_adapter,
    queue_worker,
    settings,
)


class EnhanceScript(scripts.Script):
    create_group = False  # the InputAccordion is the group
    sorting_priority = 20  # Forge: after the built-ins that shape sampling
    is_enhance = True  # lets the nested runner filter out every copy of us

    def __init__(self):
        super().__init__()
        self.controller = controller.Controller(
            host_factory=lambda p: host_adapter.WebUIHost(p, self),
            names=host_adapter.host_names,
            detectors=host_adapter.detector_registry,
            option=lambda key, default: shared.opts.data.get(key, default),
        )

    def title(self):
        return "Enhance"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        import gradio as gr
        from modules.ui_common import create_refresh_button
        from modules.ui_components import InputAccordion

        host = host_adapter.WebUIHost()
        parts = accordion.build(
            gr,
            InputAccordion=InputAccordion,
            elem_id=self.elem_id,
            lists=accordion.HostLists(
                upscalers=host.upscalers,
                checkpoints=host.checkpoints,
                vaes=host.vaes,
                samplers=host_adapter.sampler_names,
                schedulers=host_adapter.scheduler_names,
                detectors=host_adapter.detector_names,
                rescan=host_adapter.rescan,
            ),
            detail_tabs=settings.detail_tabs(shared.opts),
            refresh_button=create_refresh_button,
            is_img2img=is_img2img,
            folder_batch=folder_batch.FolderBatchActions(host_adapter.batch_service),
            source=os.path.basename(self.filename or "enhance.py"),
            notice=capabilities.missing_notice(),
        )
        self.controller.paths = parts.paths
        self.infotext_fields = parts.infotext_fields
        self.paste_field_names = parts.paste_field_names
        return parts.args

    def process(self, p, *args):
        self.controller.process(p, args)

    def before_process_batch(self, p, *args, **kwargs):
        self.controller.before_batch(p)

    def postprocess_batch_list(self, p, pp, *args, **kwargs):
        self.controller.batch_done(p)

    def postprocess_image_after_composite(self, p, pp, *args):
        self.controller.image(p, pp)

    def postprocess(self, p, processed, *args):
        self.controller.postprocess(p, processed)


def on_ui_settings():
    import gradio as gr

    settings.register(shared, gr)


def on_app_started(demo, app):
    service = api.Service(
        names=host_adapter.host_names,
        models=host_adapter.models,
        enhance=host_adapter.enhance_image,
        allow_paths=lambda: bool(capabilities.cmd_opt("enhance_allow_api_paths", False)),
        paths=lambda: accordion.layout(settings.detail_tabs(shared.opts)),
    )
    api.install(app, service, batch=host_adapter.batch_service)
    queue_worker.start(  # only with --enhance-queue: this server takes the queue's items too
        host=lambda: host_adapter.WebUIHost(None),
        names=host_adapter.host_names,
        detectors=host_adapter.detector_registry,
        runner=lambda work: host_adapter.run_exclusive(work, job="enhance queue"),
    )


script_callbacks.on_ui_settings(on_ui_settings)
script_callbacks.on_infotext_pasted(infotext.migrate)
script_callbacks.on_app_started(on_app_started)
