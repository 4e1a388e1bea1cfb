"""modules/ui_components.py, Forge: InputAccordion is a FACTORY returning InputAccordionImpl."""

import gradio as gr
import gradio.component_meta

# Gradio 4 writes a .pyi stub beside any module defining components; Forge marks its classes
# `webui_do_not_create_gradio_pyi_thank_you` for its own patched meta. Keep the test tree clean.
gradio.component_meta.create_or_modify_pyi = lambda *args, **kwargs: None


class FormComponent:
    webui_do_not_create_gradio_pyi_thank_you = True

    def get_expected_parent(self):
        return gr.components.Form


class ToolButton(gr.Button, FormComponent):
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


class InputAccordionImpl(gr.Checkbox):
    webui_do_not_create_gradio_pyi_thank_you = True
    global_index = 0

    def __init__(self, value=None, setup=False, **kwargs):
        if not setup:
            super().__init__(value=value, **kwargs)
            return
        self.accordion_id = kwargs.get("elem_id")
        if self.accordion_id is None:
            self.accordion_id = f"input-accordion-{InputAccordionImpl.global_index}"
            InputAccordionImpl.global_index += 1
        kwargs_checkbox = {**kwargs, "elem_id": f"{self.accordion_id}-checkbox", "visible": False}
        super().__init__(value=value, **kwargs_checkbox)
        self.change(
            fn=None,
            js='function(checked){ inputAccordionChecked("' + self.accordion_id + '", checked); }',
            inputs=[self],
        )
        kwargs_accordion = {
            **kwargs,
            "elem_id": self.accordion_id,
            "label": kwargs.get("label", "Accordion"),
            "elem_classes": ["input-accordion"],
            "open": value,
        }
        self.accordion = gr.Accordion(**kwargs_accordion)

    def extra(self):
        return gr.Column(
            elem_id=self.accordion_id + "-extra", elem_classes="input-accordion-extra", min_width=0
        )

    def __enter__(self):
        self.accordion.__enter__()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.accordion.__exit__(exc_type, exc_val, exc_tb)

    def get_block_name(self):
        return "checkbox"


def InputAccordion(value=None, **kwargs):
    return InputAccordionImpl(value=value, setup=True, **kwargs)
