"""modules/api/models.py: the request models generated from the processing dataclasses (§6).

As in the host: every `__init__` parameter of the class and its bases becomes an optional
field (minus API_NOT_ALLOWED), plus the API-only extras (`script_args`, `alwayson_scripts`,
`send_images`, `save_images`, …). pydantic 1 on A1111 (config patched after `create_model`),
pydantic 2 on Forge (`ConfigDict(populate_by_name=True, frozen=False)`, `str | None` extras).
Only the models the txt2img/img2img routes use are here.
"""

import inspect
import re
from typing import Any, Optional

from modules._flavour import HOST
from modules.processing import StableDiffusionProcessingImg2Img, StableDiffusionProcessingTxt2Img
from pydantic import BaseModel, Field, create_model

FORGE = HOST.forge_backend  # pydantic 2 typing (Forge, Neo)

API_NOT_ALLOWED = [
    "self",
    "kwargs",
    "sd_model",
    "outpath_samples",
    "outpath_grids",
    "sampler_index",
    "extra_generation_params",
    "overlay_images",
    "do_not_reload_embeddings",
    "seed_enable_extras",
    "prompt_for_display",
    "sampler_noise_scheduler_override",
    "ddim_discretize",
]


def underscore(word):
    """inflection.underscore (the host's dependency; not installed here)."""
    word = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", word)
    word = re.sub(r"([a-z\d])([A-Z])", r"\1_\2", word)
    return word.replace("-", "_").lower()


class ModelDef(BaseModel):
    """Assistance Class for Pydantic Dynamic Model Generation"""

    field: str
    field_alias: str
    field_type: Any
    field_value: Any
    field_exclude: bool = False


class PydanticModelGenerator:
    def __init__(self, model_name=None, class_instance=None, additional_fields=None):
        def field_type_generator(k, v):
            field_type = v.annotation
            if field_type == "Image":
                field_type = "str"
            return Optional[field_type]  # noqa: UP045 - the host's spelling; Any | None fails

        def merge_class_params(class_):
            all_classes = list(filter(lambda x: x is not object, inspect.getmro(class_)))
            parameters = {}
            for classes in all_classes:
                parameters = {**parameters, **inspect.signature(classes.__init__).parameters}
            return parameters

        self._model_name = model_name
        self._class_data = merge_class_params(class_instance)
        self._model_def = [
            ModelDef(
                field=underscore(k),
                field_alias=k,
                field_type=field_type_generator(k, v),
                field_value=None if isinstance(v.default, property) else v.default,
            )
            for (k, v) in self._class_data.items()
            if k not in API_NOT_ALLOWED
        ]
        for fields in additional_fields:
            self._model_def.append(
                ModelDef(
                    field=underscore(fields["key"]),
                    field_alias=fields["key"],
                    field_type=fields["type"],
                    field_value=fields["default"],
                    field_exclude=fields.get("exclude", False),
                )
            )

    def generate_model(self):
        fields = {
            d.field: (
                d.field_type,
                Field(default=d.field_value, alias=d.field_alias, exclude=d.field_exclude),
            )
            for d in self._model_def
        }
        if FORGE:
            from pydantic import ConfigDict

            return create_model(
                self._model_name, __config__=ConfigDict(populate_by_name=True, frozen=False),
                **fields,
            )  # fmt: skip
        model = create_model(self._model_name, **fields)
        model.__config__.allow_population_by_field_name = True
        model.__config__.allow_mutation = True
        return model


_OptStr = str | None
_OptList = list | None

StableDiffusionTxt2ImgProcessingAPI = PydanticModelGenerator(
    "StableDiffusionProcessingTxt2Img",
    StableDiffusionProcessingTxt2Img,
    [
        {"key": "sampler_index", "type": str, "default": "Euler"},
        {"key": "script_name", "type": _OptStr if FORGE else str, "default": None},
        {"key": "script_args", "type": list, "default": []},
        {"key": "send_images", "type": bool, "default": True},
        {"key": "save_images", "type": bool, "default": False},
        {"key": "alwayson_scripts", "type": dict, "default": {}},
        {"key": "force_task_id", "type": _OptStr if FORGE else str, "default": None},
        {"key": "infotext", "type": _OptStr if FORGE else str, "default": None},
    ],
).generate_model()

StableDiffusionImg2ImgProcessingAPI = PydanticModelGenerator(
    "StableDiffusionProcessingImg2Img",
    StableDiffusionProcessingImg2Img,
    [
        {"key": "sampler_index", "type": str, "default": "Euler"},
        {"key": "init_images", "type": _OptList if FORGE else list, "default": None},
        {"key": "denoising_strength", "type": float, "default": 0.75},
        {"key": "mask", "type": _OptStr if FORGE else str, "default": None},
        {"key": "include_init_images", "type": bool, "default": False, "exclude": True},
        {"key": "script_name", "type": _OptStr if FORGE else str, "default": None},
        {"key": "script_args", "type": list, "default": []},
        {"key": "send_images", "type": bool, "default": True},
        {"key": "save_images", "type": bool, "default": False},
        {"key": "alwayson_scripts", "type": dict, "default": {}},
        {"key": "force_task_id", "type": _OptStr if FORGE else str, "default": None},
        {"key": "infotext", "type": _OptStr if FORGE else str, "default": None},
    ],
).generate_model()


class TextToImageResponse(BaseModel):
    images: list[str] | None = Field(default=None, title="Image")
    parameters: dict
    info: str


class ImageToImageResponse(BaseModel):
    images: list[str] | None = Field(default=None, title="Image")
    parameters: dict
    info: str


class SDModelItem(BaseModel):
    title: str = Field(title="Title")
    model_name: str = Field(title="Model Name")
    hash: str | None = Field(title="Short hash")
    sha256: str | None = Field(title="sha256 hash")
    filename: str = Field(title="Filename")
    config: str | None = Field(default=None, title="Config file")

    if FORGE:
        model_config = {"protected_namespaces": ()}


class ScriptsList(BaseModel):
    txt2img: list | None = Field(default=None, title="Txt2img")
    img2img: list | None = Field(default=None, title="Img2img")


class ScriptArg(BaseModel):
    label: str = Field(default=None, title="Label", description="Name of the argument in UI")
    value: Optional[Any] = Field(default=None, title="Value")  # noqa: UP045 - host code
    minimum: Optional[Any] = Field(default=None, title="Minimum")  # noqa: UP045
    maximum: Optional[Any] = Field(default=None, title="Maximum")  # noqa: UP045
    step: Optional[Any] = Field(default=None, title="Step")  # noqa: UP045
    choices: Optional[list[str]] = Field(default=None, title="Choices")  # noqa: UP045


class ScriptInfo(BaseModel):
    name: str = Field(default=None, title="Name", description="Script name")
    is_alwayson: bool = Field(default=None, title="IsAlwayson")
    is_img2img: bool = Field(default=None, title="IsImg2img")
    args: list[ScriptArg] = Field(title="Arguments", description="List of script's arguments")
