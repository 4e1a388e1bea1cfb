"""modules/gradio_extensons.py (sic), A1111: `tooltip=` is taken off every component."""

import gradio as gr

from modules import scripts


def IOComponent_init(self, *args, **kwargs):
    self.webui_tooltip = kwargs.pop("tooltip", None)
    if scripts.scripts_current is not None:
        scripts.scripts_current.before_component(self, **kwargs)
    res = original_IOComponent_init(self, *args, **kwargs)
    if scripts.scripts_current is not None:
        scripts.scripts_current.after_component(self, **kwargs)
    return res


def BlockContext_init(self, *args, **kwargs):
    kwargs.pop("tooltip", None)
    return original_BlockContext_init(self, *args, **kwargs)


if not getattr(gr.components.IOComponent.__init__, "standin_patched", False):
    original_IOComponent_init = gr.components.IOComponent.__init__
    original_BlockContext_init = gr.blocks.BlockContext.__init__
    IOComponent_init.standin_patched = True
    gr.components.IOComponent.__init__ = IOComponent_init
    gr.blocks.BlockContext.__init__ = BlockContext_init
