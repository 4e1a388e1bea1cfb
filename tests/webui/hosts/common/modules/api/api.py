"""modules/api/api.py: the `Api` class as far as txt2img / img2img and the state routes go (§6).

Kept from the host, in its order: routes registered in `__init__` through `add_api_route` (with
`--api-auth` as a route dependency), the default script args built by calling every script's
`ui()` again inside a throw-away `gr.Blocks`, `init_script_args` (case-insensitive title match,
422 for an unknown or selectable script, positional copy of `alwayson_scripts[...]["args"]`),
`populate = req.copy(update=...)`, `vars(populate)` into the processing class, `p.is_api`,
`queue_lock`, `state.begin/end`, and the response `info=processed.js()`. A1111 installs the
exception middleware (500 with the error as JSON); Forge has that call commented out, and
answers with `processed.images + processed.extra_images`.

Left out: the other routes, `apply_infotext` (requests with `infotext` are refused here), and
Forge's `override_settings` checkpoint handling at the top of `text2imgapi`.
"""

import base64
import io
from contextlib import closing
from secrets import compare_digest
from threading import Lock

import gradio as gr
import modules.shared as shared
from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from modules import errors, scripts, sd_models, sd_samplers
from modules._flavour import HOST
from modules.api import models
from modules.processing import (
    StableDiffusionProcessingImg2Img,
    StableDiffusionProcessingTxt2Img,
    process_images,
)
from modules.shared import opts
from PIL import Image, PngImagePlugin

FORGE = HOST.forge_backend


def script_name_to_index(name, scripts):
    try:
        return [script.title().lower() for script in scripts].index(name.lower())
    except Exception as e:
        raise HTTPException(status_code=422, detail=f"Script '{name}' not found") from e


def validate_sampler_name(name):
    config = sd_samplers.all_samplers_map.get(name, None)
    if config is None:
        raise HTTPException(status_code=400, detail="Sampler not found")
    return name


def decode_base64_to_image(encoding):
    if encoding.startswith("data:image/"):
        encoding = encoding.split(";")[1].split(",")[1]
    try:
        return Image.open(io.BytesIO(base64.b64decode(encoding)))
    except Exception as e:
        raise HTTPException(status_code=500, detail="Invalid encoded image") from e


def encode_pil_to_base64(image):
    with io.BytesIO() as output_bytes:
        if isinstance(image, str):
            return image
        if opts.samples_format.lower() != "png":
            raise HTTPException(status_code=500, detail="stand-in: only png")
        use_metadata = False
        metadata = PngImagePlugin.PngInfo()
        for key, value in image.info.items():
            if isinstance(key, str) and isinstance(value, str):
                metadata.add_text(key, value)
                use_metadata = True
        image.save(
            output_bytes, format="PNG", pnginfo=(metadata if use_metadata else None),
            quality=opts.jpeg_quality,
        )  # fmt: skip
        bytes_data = output_bytes.getvalue()
    return base64.b64encode(bytes_data)


def api_middleware(app: FastAPI):
    def handle_exception(request: Request, e: Exception):
        err = {
            "error": type(e).__name__,
            "detail": vars(e).get("detail", ""),
            "body": vars(e).get("body", ""),
            "errors": str(e),
        }
        if not isinstance(e, HTTPException):
            errors.report(f"API error: {request.method}: {request.url} {err}", exc_info=True)
        return JSONResponse(
            status_code=vars(e).get("status_code", 500), content=jsonable_encoder(err)
        )

    @app.middleware("http")
    async def exception_handling(request: Request, call_next):
        try:
            return await call_next(request)
        except Exception as e:
            return handle_exception(request, e)

    @app.exception_handler(Exception)
    async def fastapi_exception_handler(request: Request, e: Exception):
        return handle_exception(request, e)

    @app.exception_handler(HTTPException)
    async def http_exception_handler(request: Request, e: HTTPException):
        return handle_exception(request, e)


# modules/progress.py
TASKS: list = []


def create_task_id(task_type):
    return f"task({task_type}-{len(TASKS)})"


def add_task_to_queue(task_id):
    TASKS.append(task_id)


def start_task(task_id):
    pass


def finish_task(task_id):
    pass


class Api:
    def __init__(self, app: FastAPI, queue_lock: Lock):
        if shared.cmd_opts.api_auth:
            self.credentials = {}
            for auth in shared.cmd_opts.api_auth.split(","):
                user, password = auth.split(":")
                self.credentials[user] = password

        self.app = app
        self.queue_lock = queue_lock
        if not FORGE:
            api_middleware(self.app)  # Forge: "#api_middleware(self.app)  # XXX"
        self.add_api_route(
            "/sdapi/v1/txt2img", self.text2imgapi, methods=["POST"],
            response_model=models.TextToImageResponse,
        )  # fmt: skip
        self.add_api_route(
            "/sdapi/v1/img2img", self.img2imgapi, methods=["POST"],
            response_model=models.ImageToImageResponse,
        )  # fmt: skip
        self.add_api_route("/sdapi/v1/interrupt", self.interruptapi, methods=["POST"])
        self.add_api_route("/sdapi/v1/options", self.get_config, methods=["GET"])
        self.add_api_route(
            "/sdapi/v1/sd-models", self.get_sd_models, methods=["GET"],
            response_model=list[models.SDModelItem],
        )  # fmt: skip
        self.add_api_route(
            "/sdapi/v1/scripts", self.get_scripts_list, methods=["GET"],
            response_model=models.ScriptsList,
        )  # fmt: skip

        self.add_api_route(
            "/sdapi/v1/script-info", self.get_script_info, methods=["GET"],
            response_model=list[models.ScriptInfo],
        )  # fmt: skip

        self.default_script_arg_txt2img = []
        self.default_script_arg_img2img = []

        txt2img_script_runner = scripts.scripts_txt2img
        img2img_script_runner = scripts.scripts_img2img
        if not txt2img_script_runner.scripts or not img2img_script_runner.scripts:
            raise RuntimeError("stand-in: boot the host (and build its UI) before the Api")
        if not self.default_script_arg_txt2img:
            self.default_script_arg_txt2img = self.init_default_script_args(txt2img_script_runner)
        if not self.default_script_arg_img2img:
            self.default_script_arg_img2img = self.init_default_script_args(img2img_script_runner)

    def add_api_route(self, path: str, endpoint, **kwargs):
        if shared.cmd_opts.api_auth:
            return self.app.add_api_route(
                path, endpoint, dependencies=[Depends(self.auth)], **kwargs
            )
        return self.app.add_api_route(path, endpoint, **kwargs)

    def auth(self, credentials: HTTPBasicCredentials = Depends(HTTPBasic())):  # noqa: B008
        if credentials.username in self.credentials and compare_digest(
            credentials.password, self.credentials[credentials.username]
        ):
            return True
        raise HTTPException(
            status_code=401, detail="Incorrect username or password",
            headers={"WWW-Authenticate": "Basic"},
        )  # fmt: skip

    def get_selectable_script(self, script_name, script_runner):
        if script_name is None or script_name == "":
            return None, None
        script_idx = script_name_to_index(script_name, script_runner.selectable_scripts)
        script = script_runner.selectable_scripts[script_idx]
        return script, script_idx

    def get_scripts_list(self):
        t2ilist = [s.name for s in scripts.scripts_txt2img.scripts if s.name is not None]
        i2ilist = [s.name for s in scripts.scripts_img2img.scripts if s.name is not None]
        return models.ScriptsList(txt2img=t2ilist, img2img=i2ilist)

    def get_script_info(self):
        res = []
        for script_list in [scripts.scripts_txt2img.scripts, scripts.scripts_img2img.scripts]:
            res += [script.api_info for script in script_list if script.api_info is not None]
        return res

    def get_script(self, script_name, script_runner):
        if script_name is None or script_name == "":
            return None, None
        script_idx = script_name_to_index(script_name, script_runner.scripts)
        return script_runner.scripts[script_idx]

    def init_default_script_args(self, script_runner):
        last_arg_index = 1
        for script in script_runner.scripts:
            if last_arg_index < script.args_to:
                last_arg_index = script.args_to
        script_args = [None] * last_arg_index
        script_args[0] = 0
        with gr.Blocks():  # will throw errors calling ui function without this
            for script in script_runner.scripts:
                if script.ui(script.is_img2img):
                    ui_default_values = []
                    for elem in script.ui(script.is_img2img):
                        ui_default_values.append(elem.value)
                    script_args[script.args_from : script.args_to] = ui_default_values
        return script_args

    def init_script_args(
        self, request, default_script_args, selectable_scripts, selectable_idx, script_runner,
        *, input_script_args=None,
    ):  # fmt: skip
        script_args = default_script_args.copy()
        if input_script_args is not None:
            for index, value in input_script_args.items():
                script_args[index] = value
        if selectable_scripts:
            script_args[selectable_scripts.args_from : selectable_scripts.args_to] = (
                request.script_args
            )
            script_args[0] = selectable_idx + 1
        if request.alwayson_scripts:
            for alwayson_script_name in request.alwayson_scripts:
                alwayson_script = self.get_script(alwayson_script_name, script_runner)
                if alwayson_script is None:
                    raise HTTPException(
                        status_code=422, detail=f"always on script {alwayson_script_name} not found"
                    )
                if alwayson_script.alwayson is False:
                    raise HTTPException(
                        status_code=422,
                        detail="Cannot have a selectable script in the always on scripts params",
                    )
                if "args" in request.alwayson_scripts[alwayson_script_name]:
                    sent = request.alwayson_scripts[alwayson_script_name]["args"]
                    count = alwayson_script.args_to - alwayson_script.args_from
                    for idx in range(0, min(count, len(sent))):
                        script_args[alwayson_script.args_from + idx] = sent[idx]
        return script_args

    def apply_infotext(self, request, tabname, *, script_runner=None, mentioned_script_args=None):
        if not request.infotext:
            return {}
        raise HTTPException(status_code=501, detail="stand-in: `infotext` is not modelled")

    def _populate(self, req, **update):
        sampler, scheduler = sd_samplers.get_sampler_and_scheduler(
            req.sampler_name or req.sampler_index, req.scheduler
        )
        populate = req.copy(
            update={
                "sampler_name": validate_sampler_name(sampler),
                "do_not_save_samples": not req.save_images,
                "do_not_save_grid": not req.save_images,
                **update,
            }
        )
        if populate.sampler_name:
            populate.sampler_index = None
        if not populate.scheduler and scheduler != "Automatic":
            populate.scheduler = scheduler
        return populate

    def _images(self, processed, send_images):
        images = list(processed.images)
        if HOST.extra_images:
            images += processed.extra_images
        return list(map(encode_pil_to_base64, images)) if send_images else []

    def text2imgapi(self, txt2imgreq: models.StableDiffusionTxt2ImgProcessingAPI):
        task_id = txt2imgreq.force_task_id or create_task_id("txt2img")
        script_runner = scripts.scripts_txt2img
        infotext_script_args = {}
        self.apply_infotext(
            txt2imgreq, "txt2img", script_runner=script_runner,
            mentioned_script_args=infotext_script_args,
        )  # fmt: skip
        selectable_scripts, selectable_script_idx = self.get_selectable_script(
            txt2imgreq.script_name, script_runner
        )
        populate = self._populate(txt2imgreq)
        args = vars(populate)
        args.pop("script_name", None)
        args.pop("script_args", None)
        args.pop("alwayson_scripts", None)
        args.pop("infotext", None)
        script_args = self.init_script_args(
            txt2imgreq, self.default_script_arg_txt2img, selectable_scripts,
            selectable_script_idx, script_runner, input_script_args=infotext_script_args,
        )  # fmt: skip
        send_images = args.pop("send_images", True)
        args.pop("save_images", None)
        add_task_to_queue(task_id)
        with (
            self.queue_lock,
            closing(StableDiffusionProcessingTxt2Img(sd_model=shared.sd_model, **args)) as p,
        ):
            p.is_api = True
            p.scripts = script_runner
            p.outpath_grids = opts.outdir_txt2img_grids
            p.outpath_samples = opts.outdir_txt2img_samples
            try:
                shared.state.begin(job="scripts_txt2img")
                start_task(task_id)
                if selectable_scripts is not None:
                    p.script_args = script_args
                    processed = scripts.scripts_txt2img.run(p, *p.script_args)
                else:
                    p.script_args = tuple(script_args)
                    processed = process_images(p)
                finish_task(task_id)
            finally:
                shared.state.end()
                shared.total_tqdm.clear()
        b64images = self._images(processed, send_images)
        return models.TextToImageResponse(
            images=b64images, parameters=vars(txt2imgreq), info=processed.js()
        )

    def img2imgapi(self, img2imgreq: models.StableDiffusionImg2ImgProcessingAPI):
        task_id = img2imgreq.force_task_id or create_task_id("img2img")
        init_images = img2imgreq.init_images
        if init_images is None:
            raise HTTPException(status_code=404, detail="Init image not found")
        mask = img2imgreq.mask
        if mask:
            mask = decode_base64_to_image(mask)
        script_runner = scripts.scripts_img2img
        infotext_script_args = {}
        self.apply_infotext(
            img2imgreq, "img2img", script_runner=script_runner,
            mentioned_script_args=infotext_script_args,
        )  # fmt: skip
        selectable_scripts, selectable_script_idx = self.get_selectable_script(
            img2imgreq.script_name, script_runner
        )
        populate = self._populate(img2imgreq, mask=mask)
        args = vars(populate)
        args.pop("include_init_images", None)
        args.pop("script_name", None)
        args.pop("script_args", None)
        args.pop("alwayson_scripts", None)
        args.pop("infotext", None)
        script_args = self.init_script_args(
            img2imgreq, self.default_script_arg_img2img, selectable_scripts,
            selectable_script_idx, script_runner, input_script_args=infotext_script_args,
        )  # fmt: skip
        send_images = args.pop("send_images", True)
        args.pop("save_images", None)
        add_task_to_queue(task_id)
        with (
            self.queue_lock,
            closing(StableDiffusionProcessingImg2Img(sd_model=shared.sd_model, **args)) as p,
        ):
            p.init_images = [decode_base64_to_image(x) for x in init_images]
            p.is_api = True
            p.scripts = script_runner
            p.outpath_grids = opts.outdir_img2img_grids
            p.outpath_samples = opts.outdir_img2img_samples
            try:
                shared.state.begin(job="scripts_img2img")
                start_task(task_id)
                if selectable_scripts is not None:
                    p.script_args = script_args
                    processed = scripts.scripts_img2img.run(p, *p.script_args)
                else:
                    p.script_args = tuple(script_args)
                    processed = process_images(p)
                finish_task(task_id)
            finally:
                shared.state.end()
                shared.total_tqdm.clear()
        b64images = self._images(processed, send_images)
        if not img2imgreq.include_init_images:
            img2imgreq.init_images = None
            img2imgreq.mask = None
        return models.ImageToImageResponse(
            images=b64images, parameters=vars(img2imgreq), info=processed.js()
        )

    def interruptapi(self):
        shared.state.interrupt()
        return {}

    def get_config(self):
        options = {}
        for key in shared.opts.data:
            metadata = shared.opts.data_labels.get(key)
            if metadata is not None:
                options.update({key: shared.opts.data.get(key, metadata.default)})
            else:
                options.update({key: shared.opts.data.get(key, None)})
        return options

    def get_sd_models(self):
        return [
            {"title": x.title, "model_name": x.model_name, "hash": x.shorthash,
             "sha256": x.sha256, "filename": x.filename, "config": None}
            for x in sd_models.checkpoints_list.values()
        ]  # fmt: skip
