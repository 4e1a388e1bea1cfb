"""modules/ui_components.py, Forge: InputAccordion is a FACTORY returning InputAccordionImpl."""

from functools import wraps

import gradio as gr
import gradio.component_meta

from modules._accordion import AccordionCheckbox

# Gradio 4 writes a .pyi stub beside any module defining components; Forge marks its classes
# `webui_do_not_create_gradio_pyi_thank_you` for its own patched meta. Keep the test tree clean.
gradio.component_meta.create_or_modify_pyi = lambda *args, **kwargs: None


class FormComponent:
    webui_do_not_create_gradio_pyi_thank_you = True

    def get_expected_parent(self):
        return gr.components.Form


class ToolButton(gr.Button, FormComponent):
    @wraps(gr.Button.__init__)
    def __init__(self, value="", *args, elem_classes=None, **kwargs):
        elem_classes = elem_classes or []
        super().__init__(*args, value=value, elem_classes=["tool", *elem_classes], **kwargs)

    def get_block_name(self):
        return "button"


class FormRow(gr.Row, FormComponent):
    def get_block_name(self):
        return "row"


class FormColumn(gr.Column, FormComponent):
    def get_block_name(self):
        return "column"


class FormGroup(gr.Group, FormComponent):
    def get_block_name(self):
        return "group"


class FormHTML(gr.HTML, FormComponent):
    def get_block_name(self):
        return "html"


class InputAccordionImpl(AccordionCheckbox, gr.Checkbox):
    webui_do_not_create_gradio_pyi_thank_you = True

    # As Forge: gradio 4 reads a component's config props from its __init__ signature, so
    # the signature must look like gr.Checkbox's (without it elem_id and visible are lost).
    @wraps(gr.Checkbox.__init__)
    def __init__(self, value=None, setup=False, **kwargs):
        if not setup:  # gradio 4 re-creates components from config without `setup`
            gr.Checkbox.__init__(self, value=value, **kwargs)
            return
        self._setup(value, **kwargs)


def InputAccordion(value=None, **kwargs):
    return InputAccordionImpl(value=value, setup=True, **kwargs)
