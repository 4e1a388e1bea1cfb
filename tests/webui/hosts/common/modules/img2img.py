"""modules/img2img.py: the Batch tab's process_batch (one `p` reused for every file, §5)."""

import os
from pathlib import Path

import modules
from modules import images, processing, scripts
from modules._flavour import HOST
from modules.shared import state
from PIL import Image, ImageOps

FORGE = HOST.forge_backend
EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff") + ((".avif",) if FORGE else ())


def process_batch(
    p,
    input,
    output_dir,
    inpaint_mask_dir,
    args,
    to_scale=False,
    scale_by=1.0,
    use_png_info=False,
    png_info_props=None,
    png_info_dir=None,
):
    output_dir = output_dir.strip()
    processing.fix_seed(p)
    if isinstance(input, str):
        batch_images = sorted(
            str(f) for f in Path(input).iterdir() if f.suffix.lower() in EXTENSIONS
        )
    else:
        batch_images = [os.path.abspath(x.name) for x in input]
    is_inpaint_batch = False
    if inpaint_mask_dir:
        inpaint_masks = sorted(str(f) for f in Path(inpaint_mask_dir).iterdir())
        is_inpaint_batch = bool(inpaint_masks)
    state.job_count = len(batch_images) * p.n_iter
    batch_results = None
    for i, image in enumerate(batch_images):
        state.job = f"{i + 1} out of {len(batch_images)}"
        if state.skipped:
            state.skipped = False
        if state.interrupted or state.stopping_generation:
            break
        img = images.read(image)
        img = ImageOps.exif_transpose(img)
        if to_scale:
            p.width = int(img.width * scale_by)
            p.height = int(img.height * scale_by)
        p.init_images = [img] * p.batch_size
        image_path = Path(image)
        if is_inpaint_batch:
            mask_image_path = os.path.join(inpaint_mask_dir, image_path.name)
            p.image_mask = (
                Image.open(mask_image_path)
                if os.path.exists(mask_image_path)
                else Image.open(inpaint_masks[0])
            )
        if output_dir:
            p.outpath_samples = output_dir
            if not FORGE:
                p.override_settings["save_to_dirs"] = False
                p.override_settings["save_images_replace_action"] = "Add number suffix"
            if not FORGE or modules.shared.opts.data.get("img2img_batch_use_original_name"):
                if p.n_iter > 1 or p.batch_size > 1:
                    p.override_settings["samples_filename_pattern"] = (
                        f"{image_path.stem}-[generation_number]"
                    )
                else:
                    p.override_settings["samples_filename_pattern"] = f"{image_path.stem}"
        proc = modules.scripts.scripts_img2img.run(p, *args)
        if proc is None:
            p.override_settings.pop("save_images_replace_action", None)
            proc = processing.process_images(p)
        if batch_results is None:
            batch_results = proc
        else:
            batch_results.images.extend(proc.images)
            batch_results.infotexts.extend(proc.infotexts)
    return batch_results


__all__ = ["process_batch", "scripts"]
