"""Stand-in helper (not a host module): `modules/safe.py` as Forge Neo (283cb2c) and Forge
Classic (c813972) ship it — what is left of A1111's checker. No `check_pt`, no
`load_with_extra`, and torch.load is not replaced: torch's own weights-only default applies.
`Extra` sets a module-level handler nobody reads. Each flavour's safe.py re-exports this; the
A1111 checker (`safe.py`) takes `make_extra` from here."""

import pickle

__all__ = ["Empty", "Extra", "RestrictedUnpickler", "Unpickler", "global_extra_handler", "load",
           "unsafe_torch_load"]  # fmt: skip

try:
    import torch
except ImportError:  # the core test venv has no torch; nothing there loads a pickle
    torch = None

unsafe_torch_load = None if torch is None else getattr(torch.load, "unsafe_torch_load", torch.load)
load = unsafe_torch_load
global_extra_handler = None


class Empty:
    pass


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module.startswith("pytorch_lightning"):
            return Empty
        if module.startswith(("collections", "torch", "numpy", "__builtin__")):
            return super().find_class(module, name)
        raise NotImplementedError(f'"{module}.{name}" is forbidden')


def make_extra(namespace):
    """`Extra` as both checkers define it: `with Extra(handler):` sets the module-level
    `global_extra_handler` of `namespace` (the safe module's globals) for the block."""

    class Extra:
        def __init__(self, handler):
            self.handler = handler

        def __enter__(self):
            assert namespace["global_extra_handler"] is None, "already inside an Extra() block"
            namespace["global_extra_handler"] = self.handler

        def __exit__(self, exc_type, exc_val, exc_tb):
            namespace["global_extra_handler"] = None

    return Extra


Extra = make_extra(globals())
Unpickler = RestrictedUnpickler
