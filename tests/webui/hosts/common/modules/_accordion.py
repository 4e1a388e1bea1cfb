"""The body of `InputAccordion` both hosts share: a hidden checkbox that opens an accordion.

A1111 and Forge differ only in how one is made (a class vs a factory, see each flavour's
ui_components) and in gradio's name for the client-side hook (`_js` in 3.x, `js` in 4.x).
"""

import gradio as gr

JS_KWARG = "_js" if int(gr.__version__.split(".")[0]) < 4 else "js"


class AccordionCheckbox:
    """Mix in before gr.Checkbox; call `_setup` from `__init__`."""

    global_index = 0

    def _setup(self, value, **kwargs):
        self.accordion_id = kwargs.get("elem_id")
        if self.accordion_id is None:
            self.accordion_id = f"input-accordion-{AccordionCheckbox.global_index}"
            AccordionCheckbox.global_index += 1
        kwargs_checkbox = {**kwargs, "elem_id": f"{self.accordion_id}-checkbox", "visible": False}
        super().__init__(value=value, **kwargs_checkbox)
        js = 'function(checked){ inputAccordionChecked("' + self.accordion_id + '", checked); }'
        self.change(fn=None, inputs=[self], **{JS_KWARG: js})
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
