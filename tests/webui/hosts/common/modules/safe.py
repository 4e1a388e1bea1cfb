"""modules/safe.py with A1111's pickle checker (HOST_API §14), written from that description.

`load_with_extra(filename, extra_handler)` first runs `check_pt`: every zip entry must be
`<dir>/data.pkl`, `<dir>/version`, `<dir>/byteorder`, `<dir>/.data/serialization_id` or
`<dir>/data/<n>` (read in A1111 82a973c: HOST_API §14 lists only three; torch ≥ 2.4 also writes
`.format_version` and `.storage_alignment`, which are refused), and the pickle may only name a
short allow-list of globals, widened by the handler. A refusal is reported with
"Error verifying pickled file from …" and the function returns None; otherwise the real
`torch.load` (`unsafe_torch_load`) runs. `Extra(handler)` sets the handler for loads an extension
does not call itself. A1111 installs the checker as `torch.load` (with --disable-safe-unpickle
it checks nothing); Forge main and reForge define it and leave torch.load alone (Neo and
Classic keep only its remains: `_safe_minimal`).
"""

import collections
import pickle
import re
import zipfile

from modules import errors
from modules._flavour import HOST
from modules._safe_minimal import make_extra

try:
    import torch
except ImportError:  # the core test venv has no torch; nothing there loads a pickle
    torch = None


allowed_zip_names_re = re.compile(
    r"^([^/]+)/((data/\d+)|version|byteorder|.data/serialization_id|(data\.pkl))$"
)
data_pkl_re = re.compile(r"^([^/]+)/data\.pkl$")

_TORCH_STORAGES = ("FloatStorage", "HalfStorage", "IntStorage", "LongStorage", "DoubleStorage",
                   "ByteStorage", "BFloat16Storage", "float32")  # fmt: skip
_TORCH_REBUILD = ("_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_device_tensor_from_numpy")


class RestrictedUnpickler(pickle.Unpickler):
    extra_handler = None

    def persistent_load(self, saved_id):
        assert saved_id[0] == "storage"
        return torch.storage.TypedStorage(_internal=True)

    def find_class(self, module, name):
        if self.extra_handler is not None:
            found = self.extra_handler(module, name)
            if found is not None:
                return found
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in _TORCH_REBUILD:
            return getattr(torch._utils, name)
        if module == "torch" and name in _TORCH_STORAGES:
            return getattr(torch, name)
        if (module, name) == ("torch.nn.modules.container", "ParameterDict"):
            return torch.nn.modules.container.ParameterDict
        if module == "numpy.core.multiarray" and name in ("scalar", "_reconstruct"):
            import numpy

            return getattr(numpy.core.multiarray, name)
        if module == "numpy" and name in ("dtype", "ndarray"):
            import numpy

            return getattr(numpy, name)
        if (module, name) == ("__builtin__", "set"):
            return set
        raise Exception(f"global '{module}/{name}' is forbidden")


def check_zip_filenames(filename, names):
    for name in names:
        if not allowed_zip_names_re.match(name):
            raise Exception(f"bad file inside {filename}: {name}")


def check_pt(filename, extra_handler):
    try:
        with zipfile.ZipFile(filename) as z:
            check_zip_filenames(filename, z.namelist())
            pickles = [f for f in z.namelist() if data_pkl_re.match(f)]
            if len(pickles) != 1:
                raise Exception(f"{len(pickles)} data.pkl found in {filename}")
            with z.open(pickles[0]) as file:
                unpickler = RestrictedUnpickler(file)
                unpickler.extra_handler = extra_handler
                unpickler.load()
    except zipfile.BadZipfile:  # the old format: five pickled objects in a row
        with open(filename, "rb") as file:
            unpickler = RestrictedUnpickler(file)
            unpickler.extra_handler = extra_handler
            for _ in range(5):
                unpickler.load()


def load(filename, *args, **kwargs):
    return load_with_extra(filename, *args, extra_handler=global_extra_handler, **kwargs)


def load_with_extra(filename, extra_handler=None, *args, **kwargs):
    from modules import shared

    try:
        if not shared.cmd_opts.disable_safe_unpickle:
            check_pt(filename, extra_handler)
    except pickle.UnpicklingError:
        errors.report(
            f"Error verifying pickled file from {filename}\n"
            "-----> !!!! The file is most likely corrupted !!!! <-----\n"
            "You can skip this check with --disable-safe-unpickle commandline argument, "
            "but that is not going to help you.\n\n",
            exc_info=True,
        )
        return None
    except Exception:
        errors.report(
            f"Error verifying pickled file from {filename}\n"
            "The file may be malicious, so the program is not going to read it.\n"
            "You can skip this check with --disable-safe-unpickle commandline argument.\n\n",
            exc_info=True,
        )
        return None
    return unsafe_torch_load(filename, *args, **kwargs)


global_extra_handler = None
Extra = make_extra(globals())  # `with safe.Extra(handler): …` allows more globals meanwhile
unsafe_torch_load = None
if torch is not None:
    # The stand-in is imported afresh for every test: start from the real torch.load.
    unsafe_torch_load = getattr(torch.load, "unsafe_torch_load", torch.load)
    load.unsafe_torch_load = unsafe_torch_load
    if HOST.torch_load_checker:
        torch.load = load
