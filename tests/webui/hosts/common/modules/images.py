"""modules/images.py: save_image (records, writes a PNG with the infotext) and resize_image."""

import os

from modules import script_callbacks, shared
from PIL import Image, PngImagePlugin

SAVED: list[dict] = []
LANCZOS = Image.Resampling.LANCZOS


def resize_image(resize_mode, im, width, height, upscaler_name=None):
    """Mode 0 only (stretch); an unknown upscaler name silently becomes sd_upscalers[0]."""
    upscaler_name = upscaler_name or shared.opts.data.get("upscaler_for_img2img", None)
    if im.width == width and im.height == height:
        return im
    scale = max(width / im.width, height / im.height)
    if scale > 1.0:
        found = [x for x in shared.sd_upscalers if x.name == upscaler_name]
        upscaler = found[0] if found else shared.sd_upscalers[0]
        im = upscaler.scaler.upscale(im, scale, upscaler.data_path)
    if im.width != width or im.height != height:
        im = im.resize((width, height), resample=LANCZOS)
    return im


def save_image(
    image,
    path,
    basename,
    seed=None,
    prompt=None,
    extension="png",
    info=None,
    short_filename=False,
    no_prompt=False,
    grid=False,
    pnginfo_section_name="parameters",
    p=None,
    existing_info=None,
    forced_filename=None,
    suffix="",
    save_to_dirs=None,
):
    os.makedirs(path, exist_ok=True)
    pattern = None
    if p is not None:
        pattern = (getattr(p, "override_settings", None) or {}).get("samples_filename_pattern")
    stem = forced_filename or (pattern if pattern else f"{len(SAVED):05}-{seed}")
    if basename:
        stem = f"{stem}-{basename}"
    fullfn = os.path.join(path, f"{stem}{suffix}.{extension}")
    if os.path.exists(fullfn):
        n = 1
        while os.path.exists(os.path.join(path, f"{stem}{suffix}-{n}.{extension}")):
            n += 1
        fullfn = os.path.join(path, f"{stem}{suffix}-{n}.{extension}")
    params = script_callbacks.ImageSaveParams(image, p, fullfn, {pnginfo_section_name: info})
    script_callbacks.before_image_saved_callback(params)
    pnginfo = PngImagePlugin.PngInfo()
    for k, v in (params.pnginfo or {}).items():
        if v is not None:
            pnginfo.add_text(k, str(v))
    params.image.save(params.filename, pnginfo=pnginfo)
    params.image.already_saved_as = params.filename
    SAVED.append(
        {
            "path": params.filename,
            "info": info,
            "suffix": suffix,
            "grid": grid,
            "basename": basename,
            "size": image.size,
            "pixel": params.image.convert("RGB").getpixel((0, 0)),
        }
    )
    script_callbacks.image_saved_callback(params)
    return params.filename, None


def image_grid(imgs, batch_size=1, rows=None):
    cols = len(imgs)
    w, h = imgs[0].size
    grid = Image.new("RGB", (cols * w, h))
    for i, img in enumerate(imgs):
        grid.paste(img, (i * w, 0))
    return grid


def read(fp, **kwargs):
    image = Image.open(fp)
    image.load()
    return image
