"""modules/gradio_extensions.py, Forge: the 3.x compatibility layer (HOST_API §9).

Each component's and layout's `__init__` drops keywords its signature does not take (so a
3.x `tooltip=` is dropped, not raised); `_js=` on events becomes `js=`; `gr.Box = gr.Group`.
"""

import inspect
from functools import wraps

import gradio as gr


def gradio_component_compatibility_layer(component_function):
    @wraps(component_function)
    def patched_function(*args, **kwargs):
        original_signature = inspect.signature(component_function).parameters
        valid_kwargs = {k: v for k, v in kwargs.items() if k in original_signature}
        return component_function(*args, **valid_kwargs)

    patched_function.standin_patched = True
    return patched_function


def gradio_component_events_compatibility_layer(component_function):
    @wraps(component_function)
    def patched_function(*args, **kwargs):
        kwargs["js"] = kwargs.get("js", kwargs.pop("_js", None))
        original_signature = inspect.signature(component_function).parameters
        valid_kwargs = {k: v for k, v in kwargs.items() if k in original_signature}
        return component_function(*args, **valid_kwargs)

    return patched_function


for component_name in set(gr.components.__all__ + gr.layouts.__all__):
    try:
        component = getattr(gr, component_name)
        if getattr(component.__init__, "standin_patched", False):
            continue
        component.__init__ = gradio_component_compatibility_layer(component.__init__)
        for event in set(getattr(component, "EVENTS", [])):
            name = event if isinstance(event, str) else getattr(event, "event_name", None)
            if name and hasattr(component, name):
                setattr(
                    component,
                    name,
                    gradio_component_events_compatibility_layer(getattr(component, name)),
                )
    except Exception:
        pass

gr.Box = gr.Group
