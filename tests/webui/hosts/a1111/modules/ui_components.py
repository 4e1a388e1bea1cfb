"""modules/ui_components.py, A1111 v1.10.1: InputAccordion is a gr.Checkbox subclass."""

import gradio as gr

from modules._accordion import AccordionCheckbox


class FormComponent:
    def get_expected_parent(self):
        return gr.components.Form


class ToolButton(FormComponent, gr.Button):
    def __init__(self, *args, **kwargs):
        classes = kwargs.pop("elem_classes", [])
        super().__init__(*args, elem_classes=["tool", *classes], **kwargs)

    def get_block_name(self):
        return "button"


class FormRow(FormComponent, gr.Row):
    def get_block_name(self):
        return "row"


class FormColumn(FormComponent, gr.Column):
    def get_block_name(self):
        return "column"


class FormGroup(FormComponent, gr.Group):
    def get_block_name(self):
        return "group"


class FormHTML(FormComponent, gr.HTML):
    def get_block_name(self):
        return "html"


class InputAccordion(AccordionCheckbox, gr.Checkbox):
    """A gr.Accordion that can be used as an input: a hidden checkbox plus an accordion."""

    def __init__(self, value, **kwargs):
        self._setup(value, **kwargs)
