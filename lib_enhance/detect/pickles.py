"""Loading a detector's `.pt` file: only files the registry listed, each one said on the console.

A YOLO `.pt` is a pickle, and loading a pickle runs what it names. The registry turns a model
name into a file only by looking it up in what it listed from the detector folders (or
downloaded there), and loads that file inside `trusted_pickle(path, host)`:

- first the pickle is unpickled with `yolo_global` as its only source of globals (tensor data
  left out): a file naming anything a YOLO checkpoint never needs is refused before it is loaded,
  on every host, whatever its torch.load does;
- torch ≥ 2.6 loads with `weights_only=True` unless told otherwise, which refuses every
  ultralytics checkpoint. Recent ultralytics passes `weights_only=False` itself; older 8.x does
  not. While the context is active, a `torch.load` of exactly this file without an explicit
  `weights_only` gets `weights_only=False`; every other load is left as torch and the host do it.
- A WebUI may have replaced `torch.load` with a checker of its own (A1111 does). What lets one
  file through depends on the host, so the WebUI layer hands in `host`, a context manager for the
  path; this package never imports the WebUI. `yolo_global` is the allow-list such a checker can
  be given: exactly the kinds of globals an ultralytics checkpoint names.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import os
import pickle
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ._types import ModelLoadError

log = logging.getLogger("enhance")

HostAllowance = Callable[[Path], contextlib.AbstractContextManager[Any]]
"""(path) → a context during which the host's torch.load lets that one file through."""

_LOCK = threading.RLock()
"""One patched torch.load at a time (loads are rare: once per model and server)."""


@contextlib.contextmanager
def trusted_pickle(path: Path, host: HostAllowance | None = None) -> Iterator[None]:
    """Load the listed pickle file `path` inside this block (see the module docstring).

    Raises `ModelLoadError` when the file names a global outside `yolo_global`.
    """
    log.warning(
        "Enhance: loading %s from %s: a .pt file is a pickle, which can run code; it is "
        "loaded because it is in the detector folder (only use model files you trust)",
        path.name, path.parent,
    )  # fmt: skip
    check(path)
    allowance = host(path) if host is not None else contextlib.nullcontext()
    with _LOCK, allowance, weights_only_off(path):
        yield


def check(path: Path) -> None:
    """Unpickle `path`'s data.pkl with only `yolo_global` to resolve globals and no tensor
    data: nothing outside the allow-list can run. Raises `ModelLoadError` naming the refusal."""
    try:
        with zipfile.ZipFile(path) as archive:
            found = [n for n in archive.namelist() if n.endswith("/data.pkl")]
            if len(found) != 1:
                raise ModelLoadError(f"{path.name}: {len(found)} data.pkl, not a torch checkpoint")
            with archive.open(found[0]) as data:
                _Checker(data).load()
    except ModelLoadError:
        raise
    except zipfile.BadZipFile:
        raise ModelLoadError(f"{path.name}: not a torch zip checkpoint; not loaded") from None
    except Exception as exc:
        raise ModelLoadError(f"{path.name} was not loaded: {exc}") from exc


class _Checker(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        found = yolo_global(module, name)
        if found is None:
            raise pickle.UnpicklingError(
                f"it names {module}.{name}, which a YOLO model file never needs"
            )
        return found

    def persistent_load(self, saved_id: Any) -> Any:
        torch = importlib.import_module("torch")
        return torch.storage.TypedStorage(_internal=True)  # tensor data is not read


def weights_only_off(path: Path) -> contextlib.AbstractContextManager[None]:
    """While active, `torch.load(path)` without `weights_only` means `weights_only=False`."""

    def load(previous: Callable[..., Any], f: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("weights_only", False)
        return previous(f, *args, **kwargs)

    return _for_file(path, load)


def routed_to(path: Path, loader: Callable[..., Any]) -> contextlib.AbstractContextManager[None]:
    """While active, `torch.load(path, …)` is `loader(path, …)`; other files load as before."""
    return _for_file(path, lambda previous, f, *args, **kwargs: loader(f, *args, **kwargs))


@contextlib.contextmanager
def _for_file(path: Path, load: Callable[..., Any]) -> Iterator[None]:
    """`torch.load` of exactly `path` goes to `load(previous_torch_load, f, …)` meanwhile."""
    torch = sys.modules.get("torch")
    if torch is None:
        try:
            torch = importlib.import_module("torch")
        except ImportError:  # no torch, no YOLO: the detector reports that itself
            yield
            return
    target = _real(path)
    previous = torch.load

    def patched(f: Any, *args: Any, **kwargs: Any) -> Any:
        if _same_file(f, target):
            return load(previous, f, *args, **kwargs)
        return previous(f, *args, **kwargs)

    with _LOCK:
        torch.load = patched
        try:
            yield
        finally:
            torch.load = previous


def _real(path: Path | str) -> str:
    return os.path.realpath(os.fspath(path))


def _same_file(f: Any, target: str) -> bool:
    name = f if isinstance(f, str | os.PathLike) else getattr(f, "name", None)
    return isinstance(name, str | os.PathLike) and _real(name) == target


# ---------------------------------------------------------------------- the allow-list

_MODULE_PREFIXES = ("ultralytics.nn.", "torch.nn.modules.")
"""Where the layers of a YOLO checkpoint come from: only `torch.nn.Module` classes count."""

_NAMESPACE = ("IterableSimpleNamespace", ("ultralytics.utils", "ultralytics.yolo.utils"))
"""Training arguments of older checkpoints (`ultralytics.yolo.*` is ultralytics < 8.0.100)."""

_PLAIN = {
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("__builtin__", "set"),
    ("torch", "Size"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
}
"""Containers, tensor rebuilding and numpy scalars: what any torch checkpoint names."""

_GETATTR = {("builtins", "getattr"), ("__builtin__", "getattr")}


def yolo_global(module: str, name: str) -> Any:
    """The object a YOLO checkpoint's pickle may name as `module.name`, or None (refuse).

    Allowed: `torch.nn.Module` classes from `ultralytics.nn.*` and `torch.nn.modules.*`, torch
    storages and dtypes, containers, numpy scalars, ultralytics' namespace of training
    arguments, and `getattr` restricted to a method of an allowed layer class (ultralytics 11
    pickles `getattr(Detect, "forward")`). Anything else — a function from `os`, a class from
    elsewhere — is None, and a checker that asked refuses the file.
    """
    if (module, name) in _GETATTR:
        return _layer_method
    if (module, name) in _PLAIN:
        return _resolve(module, name)
    if name == _NAMESPACE[0] and module in _NAMESPACE[1]:
        return _resolve(module, name) or _resolve("ultralytics.utils", name)
    if module == "torch" and (name.endswith("Storage") or _is_dtype(name)):
        return _resolve(module, name)
    if module.startswith(_MODULE_PREFIXES):
        found = _resolve(module, name)
        return found if _is_layer(found) else None
    return None


def _resolve(module: str, name: str) -> Any:
    if module in ("builtins", "__builtin__"):
        return {"set": set}.get(name)
    mod = sys.modules.get(module)
    if mod is None:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            return None
    return getattr(mod, name, None)


def _is_dtype(name: str) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(getattr(torch, name, None), torch.dtype)


def _is_layer(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return (
        torch is not None
        and isinstance(obj, type)
        and issubclass(obj, torch.nn.Module)
        and obj.__module__.startswith(("ultralytics.", "torch.nn."))
    )


def _layer_method(obj: Any, attr: str) -> Any:
    """`getattr` as a checkpoint may use it: a method of an allowed layer class, nothing else."""
    value = getattr(obj, attr, None) if _is_layer(obj) and not attr.startswith("__") else None
    if value is None or not inspect.isroutine(value):
        raise pickle.UnpicklingError(f"getattr({obj!r}, {attr!r}) is not allowed in a model file")
    return value
