"""modules/ui.py: the txt2img / img2img tabs as far as an always-on script meets them.

Built in the host's order (A1111 1.10.1 `create_ui`, Forge the same): each tab is its own
`gr.Blocks` with the host's own controls (prompt, steps, Hires. fix with "Upscale by" and
"Denoising strength", …), the scripts' UI (`ScriptRunner.setup_ui`, the "Script" dropdown in
slot 0), Generate, the ↙ paste button, and the output panel: gallery, generation info, the
infotext as HTML and the per-job comments as HTML under it (`Processed.comments`). Then the
tabs are rendered into the page and `ui_loadsave.add_block(interface, tab)` applies the saved
defaults — after every `ui()` ran. Generate builds `p` as `txt2img_create_processing` does
(`p.scripts`, then `p.script_args` = the runner's inputs) and returns what `txt2img()` returns.

Left out: styles, seeds UI, extra networks, the settings tab (Defaults → Apply is
`demo.ui_loadsave.ui_apply`), progress polling.
"""

import html
import os

import gradio as gr
import modules
from modules import infotext_utils, paths, processing, scripts, shared, ui_loadsave
from modules.ui_components import InputAccordion, ToolButton

FORGE = modules.FLAVOUR == "forge"
JS_KWARG = "_js" if int(gr.__version__.split(".")[0]) < 4 else "js"
PASTE_SYMBOL = "\u2199\ufe0f"
SCRIPT_JS = os.path.join(os.path.dirname(__file__), "_script.js")


def plaintext_to_html(text, classname=None):
    content = "<br>\n".join(html.escape(x) for x in (text or "").split("\n"))
    return f"<p class='{classname}'>{content}</p>" if classname else f"<p>{content}</p>"


def _generate(tab, runner, prompt, negative, steps, denoise, *rest):
    """txt2img() / img2img(): build p, run the selected script or process_images."""
    out = os.path.join(paths.data_path, "outputs")
    fields = dict(prompt=prompt, negative_prompt=negative, steps=int(steps), seed=1000,
                  sampler_name="Euler a", scheduler="Automatic", cfg_scale=7.0,
                  outpath_samples=os.path.join(out, tab),
                  outpath_grids=os.path.join(out, "grids"))  # fmt: skip
    if tab == "txt2img":
        enable_hr, hr_scale, *args = rest
        fields.update(width=64, height=48, enable_hr=bool(enable_hr), hr_scale=float(hr_scale),
                      hr_upscaler="Lanczos", denoising_strength=float(denoise))  # fmt: skip
        if FORGE:
            fields["hr_additional_modules"] = ["Use same choices"]
        p = processing.StableDiffusionProcessingTxt2Img(**fields)
    else:
        image, *args = rest
        fields.update(width=image.width, height=image.height, init_images=[image],
                      denoising_strength=float(denoise))  # fmt: skip
        p = processing.StableDiffusionProcessingImg2Img(**fields)
    p.scripts = runner
    p.script_args = tuple(args)
    shared.state.begin(job=tab)
    try:
        processed = runner.run(p, *p.script_args) or processing.process_images(p)
    finally:
        shared.state.end()
    return (processed.images, processed.js(), plaintext_to_html(processed.info),
            plaintext_to_html(processed.comments, classname="comments"))  # fmt: skip


def _paste(fields, text):
    params = infotext_utils.parse_generation_parameters(text)
    return infotext_utils.paste_values(fields, params)


def _tab(tab, runner):
    is_img2img = tab == "img2img"
    with gr.Blocks(analytics_enabled=False) as interface:
        with gr.Row():
            prompt = gr.Textbox(label="Prompt", elem_id=f"{tab}_prompt", lines=2)
            negative = gr.Textbox(label="Negative prompt", elem_id=f"{tab}_neg_prompt")
            paste = ToolButton(value=PASTE_SYMBOL, elem_id=f"{tab}_paste")
            generate = gr.Button("Generate", elem_id=f"{tab}_generate", variant="primary")
        steps = gr.Slider(1, 150, value=20, step=1, label="Sampling steps", elem_id=f"{tab}_steps")
        host_inputs = []
        if is_img2img:
            image = gr.Image(label="Image for img2img", type="pil", elem_id="img2img_image")
            denoise = gr.Slider(0, 1, value=0.75, step=0.01, label="Denoising strength",
                                elem_id="img2img_denoising_strength")  # fmt: skip
            host_inputs = [image]
        else:
            with InputAccordion(False, label="Hires. fix", elem_id="txt2img_hr") as enable_hr:
                hr_scale = gr.Slider(1, 4, value=2.0, step=0.05, label="Upscale by",
                                     elem_id="txt2img_hr_scale")  # fmt: skip
                denoise = gr.Slider(0, 1, value=0.7, step=0.01, label="Denoising strength",
                                    elem_id="txt2img_denoising_strength")  # fmt: skip
            host_inputs = [enable_hr, hr_scale]
        runner.setup_ui()
        runner.inputs[0] = gr.Dropdown(label="Script", elem_id="script_list", choices=["None"],
                                       value="None", type="index")  # fmt: skip
        gallery = gr.Gallery(label="Output", elem_id=f"{tab}_gallery")
        generation_info = gr.Textbox(visible=False, elem_id=f"generation_info_{tab}")
        html_info = gr.HTML(elem_id=f"html_info_{tab}")
        html_log = gr.HTML(elem_id=f"html_log_{tab}")
        generate.click(
            fn=lambda *a: _generate(tab, runner, *a),
            inputs=[prompt, negative, steps, denoise, *host_inputs, *runner.inputs],
            outputs=[gallery, generation_info, html_info, html_log],
        )
        fields = [(prompt, "Prompt"), (negative, "Negative prompt"), (steps, "Steps"),
                  *runner.infotext_fields]  # fmt: skip
        paste.click(fn=lambda text: _paste(fields, text), inputs=[prompt],
                    outputs=[c for c, _ in fields])  # fmt: skip
    return interface


def create_ui():
    """The page: both tabs, then the saved defaults applied (`ui_loadsave`), as the host."""
    loadsave = ui_loadsave.UiLoadsave(shared.cmd_opts.ui_config_file)
    interfaces = [(_tab("txt2img", scripts.scripts_txt2img), "txt2img"),
                  (_tab("img2img", scripts.scripts_img2img), "img2img")]  # fmt: skip
    with gr.Blocks(analytics_enabled=False, title="Stable Diffusion (stand-in)") as demo:
        with gr.Tabs(elem_id="tabs"):
            for interface, tab in interfaces:
                with gr.TabItem(tab, id=tab, elem_id=f"tab_{tab}"):
                    interface.render()
                loadsave.add_block(interface, tab)
        with open(SCRIPT_JS, encoding="utf8") as fh:
            demo.load(fn=None, inputs=None, outputs=None, **{JS_KWARG: fh.read()})
    loadsave.dump_defaults()
    demo.ui_loadsave = loadsave
    demo.tab_interfaces = [interface for interface, _ in interfaces]
    shared.demo = demo
    return demo
