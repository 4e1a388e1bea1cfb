"""modules/gradio_extensions.py, Forge: the 3.x compatibility layer (HOST_API §9).

Only classes that HAVE events (components: Slider, Checkbox, Button …) get a lenient
`__init__`: keywords their signature does not take are dropped, and `tooltip=` is kept as
`webui_tooltip`. Classes without events keep gradio 4's strict `__init__` — in 4.40 that is
every layout (Row, Column, Group, Tab, Accordion), so a `tooltip=` given to one of them raises
TypeError on real Forge (seen on a running Forge: an InputAccordion with a tooltip stopped the
API from starting). Events take `_js=` as `js=`; `gr.Box = gr.Group

# As Forge: components defined from here on (InputAccordionImpl, ToolButton …) skip gradio's
# `updateable` wrapper, so an update re-creates them from their gr.Checkbox/gr.Button
# arguments — not by running their own __init__ (which would register events) again.
gradio.component_meta.updateable = lambda x: x`.
"""

import inspect
from functools import wraps

import gradio as gr
import gradio.component_meta


def _lenient_init(strict_init):
    known = inspect.signature(strict_init).parameters

    @wraps(strict_init)
    def init(self, *args, tooltip=None, **kwargs):
        strict_init(self, *args, **{k: v for k, v in kwargs.items() if k in known})
        self.webui_tooltip = tooltip

    init.standin_patched = True
    return init


def _event_accepting_js(event):
    @wraps(event)
    def patched(*args, **kwargs):
        kwargs["js"] = kwargs.get("js", kwargs.pop("_js", None))
        known = inspect.signature(event).parameters
        return event(*args, **{k: v for k, v in kwargs.items() if k in known})

    return patched


def _make_lenient(cls) -> None:
    events = getattr(cls, "EVENTS", None)
    if not events or getattr(cls.__init__, "standin_patched", False):
        return
    cls.__init__ = _lenient_init(cls.__init__)
    for event in set(events):
        name = event if isinstance(event, str) else getattr(event, "event_name", None)
        if name and hasattr(cls, name):
            setattr(cls, name, _event_accepting_js(getattr(cls, name)))


for _name in set(gr.components.__all__ + gr.layouts.__all__):
    _cls = getattr(gr, _name, None)
    if isinstance(_cls, type):
        _make_lenient(_cls)

gr.Box = gr.Group

# As Forge: components defined from here on (InputAccordionImpl, ToolButton …) skip gradio's
# `updateable` wrapper, so an update re-creates them from their gr.Checkbox/gr.Button
# arguments — not by running their own __init__ (which would register events) again.
gradio.component_meta.updateable = lambda x: x
