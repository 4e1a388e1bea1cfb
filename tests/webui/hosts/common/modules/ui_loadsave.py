"""modules/ui_loadsave.py: saved UI defaults (`ui-config.json`), keyed and applied as the host does.

What matters for extensions (HOST_API.md §14), kept from A1111 1.10.1 / Forge:
- `add_block(interface, "txt2img")` runs after every tab was built (so after every script's
  `ui()`), walks the blocks and keys each labelled component `"{tab}/{label}/{field}"`; only the
  tab and the label make the key, so two components with one label share it;
- a component with `custom_script_source` (the host sets it on the controls a script's `ui()`
  returned) gets the key `customscript/{source}/{tab}/{label}/{field}`;
- a saved value is applied with `setattr(component, field, value)` — late, after `ui()` used
  the components; a component whose key is not saved yet records its value under the key, so
  a second component with the same key then receives the first one's value;
- only the first component of a key is tracked for "Apply" (`component_mapping`);
- types are compared exactly (`type(x) == gr.Slider`); a dropdown value must be a choice.
On Forge `InputAccordion` is a factory function, so the host's `type(x) == InputAccordion`
never holds there and the enable checkbox is not saved at all; the stand-in keeps that.
"""

import json
import os

import gradio as gr
import modules
from modules.ui_components import InputAccordion

FORGE = modules.FLAVOUR == "forge"


def radio_choices(comp):
    return [x[0] if isinstance(x, tuple) else x for x in getattr(comp, "choices", [])]


class UiLoadsave:
    def __init__(self, filename):
        self.filename = filename
        self.ui_settings = {}
        self.component_mapping = {}
        self.error_loading = False
        self.finalized_ui = False
        if os.path.exists(self.filename):
            self.ui_settings = self.read_from_file()

    def add_component(self, path, x):
        assert not self.finalized_ui

        def apply_field(obj, field, condition=None):
            key = f"{path}/{field}"
            if getattr(obj, "custom_script_source", None) is not None:
                key = f"customscript/{obj.custom_script_source}/{key}"
            if getattr(obj, "do_not_save_to_config", False):
                return
            saved_value = self.ui_settings.get(key, None)
            if isinstance(obj, gr.Accordion) and type(x) == InputAccordion and field == "value":  # noqa: E721
                field = "open"
            if saved_value is None:
                current = getattr(obj, field)
                if FORGE and isinstance(obj, gr.Textbox) and field == "value" and current is None:
                    current = ""
                self.ui_settings[key] = current
            elif condition and not condition(saved_value):
                pass
            else:
                if isinstance(obj, gr.Textbox) and field == "value":
                    saved_value = str(saved_value)
                elif isinstance(obj, gr.Number) and field == "value":
                    try:
                        saved_value = float(saved_value)
                    except ValueError:
                        return
                setattr(obj, field, saved_value)
            if field == "value" and key not in self.component_mapping:
                self.component_mapping[key] = obj

        tracked = [gr.Slider, gr.Radio, gr.Checkbox, gr.Textbox, gr.Number, gr.Dropdown, gr.Button]
        if type(x) in tracked and x.visible:
            apply_field(x, "visible")
        if type(x) == gr.Slider:  # noqa: E721 - the host compares types exactly
            apply_field(x, "value")
            apply_field(x, "minimum")
            apply_field(x, "maximum")
            apply_field(x, "step")
        if type(x) == gr.Radio:  # noqa: E721
            apply_field(x, "value", lambda val: val in radio_choices(x))
        if type(x) == gr.Checkbox:  # noqa: E721
            apply_field(x, "value")
        if type(x) == gr.Textbox:  # noqa: E721
            apply_field(x, "value")
        if type(x) == gr.Number:  # noqa: E721
            apply_field(x, "value")
        if type(x) == gr.Dropdown:  # noqa: E721
            apply_field(x, "value", lambda val: val in radio_choices(x))
        if type(x) == InputAccordion:  # noqa: E721 - on Forge a factory: never true, as there
            if FORGE and hasattr(x, "custom_script_source"):
                x.accordion.custom_script_source = x.custom_script_source
            if x.accordion.visible:
                apply_field(x.accordion, "visible")
            apply_field(x, "value")
            apply_field(x.accordion, "value")
        if type(x) == gr.Tabs:  # noqa: E721
            apply_field(x, "selected")

    def add_block(self, x, path=""):
        if hasattr(x, "children"):
            if isinstance(x, gr.Tabs) and x.elem_id is not None:
                self.add_component(f"{path}/Tabs@{x.elem_id}", x)
            for c in x.children:
                self.add_block(c, path)
        elif x.label is not None:
            self.add_component(f"{path}/{x.label}", x)
        elif isinstance(x, gr.Button) and x.value is not None:
            self.add_component(f"{path}/{x.value}", x)

    def read_from_file(self):
        with open(self.filename, encoding="utf8") as file:
            return json.load(file)

    def write_to_file(self, current_ui_settings):
        with open(self.filename, "w", encoding="utf8") as file:
            json.dump(current_ui_settings, file, indent=4, ensure_ascii=False)

    def dump_defaults(self):
        if self.error_loading and os.path.exists(self.filename):
            return
        self.write_to_file(self.ui_settings)

    def iter_changes(self, current_ui_settings, values):
        for (path, component), new_value in zip(
            self.component_mapping.items(), values, strict=False
        ):
            old_value = current_ui_settings.get(path)
            choices = radio_choices(component)
            if isinstance(new_value, int) and choices:
                if new_value >= len(choices):
                    continue
                new_value = choices[new_value]
            if new_value == old_value:
                continue
            if (old_value is None and new_value == "") or new_value == []:
                continue
            yield path, old_value, new_value

    def ui_apply(self, *values):
        """Settings → Defaults → Apply: write what changed (read at the next UI start)."""
        current = self.read_from_file()
        changed = 0
        for path, _, new_value in self.iter_changes(current.copy(), values):
            changed += 1
            current[path] = new_value
        if changed == 0:
            return "No changes."
        self.write_to_file(current)
        return f"Wrote {changed} changes."
