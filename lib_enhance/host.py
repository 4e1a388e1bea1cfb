"""The host interface: everything the pipeline needs from a WebUI, and nothing more.

The pipeline never imports the WebUI. It talks to an object with the methods of `Host`; the real
one lives in `webui.host_adapter` (A1111 / Forge), a deterministic recording one in `testing`.
Keeping the surface this small is what lets the whole pipeline be tested and benchmarked
without a GPU.

Why a batched call: requests that share settings (one tiled pass, one detail pass) go to the host
as one `img2img` call, so the host runs them as one sampler batch. That is where the speed comes
from — the peers make one host call per tile or per face.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from PIL import Image

from .spec.config import is_same


class HostError(RuntimeError):
    """The host could not do what was asked (unknown model, load failure, sampler crash)."""


class HostInterrupted(HostError):
    """The user pressed Interrupt or Skip, or the host returned no image for a request."""


class HostOutOfMemory(HostError):
    """A sampler call ran out of (V)RAM. Not a failure of the run: the caller retries with
    fewer items per call, and a hires pass that does not fit alone goes tiled."""


OOM_TYPES = ("OutOfMemoryError",)
"""Exception class names (anywhere in the class's MRO) that mean out of memory: torch's
`torch.cuda.OutOfMemoryError` / `torch.OutOfMemoryError`, which every host raises on CUDA and
ROCm (the Forge family's `memory_management.OOM_EXCEPTION` is that class)."""
OOM_MESSAGES = (
    "out of memory",  # CUDA ("CUDA out of memory"), MPS ("MPS backend out of memory"), XPU
    "not enough gpu video memory",  # DirectML ("… There is not enough GPU video memory …")
    "can't allocate memory",  # CPU ("DefaultCPUAllocator: can't allocate memory"), --use-cpu
)
"""Messages of the plain RuntimeErrors other backends raise for the same thing."""


def is_out_of_memory(exc: BaseException) -> bool:
    """True when `exc` (or what it wraps) says the device ran out of memory.

    Decided by class name and message, so no torch import is needed (the pipeline runs without
    torch) and the hosts' own wrappers count too.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, HostOutOfMemory):
            return True
        if any(cls.__name__ in OOM_TYPES for cls in type(current).__mro__):
            return True
        if isinstance(current, RuntimeError | MemoryError):
            text = str(current).lower()
            if isinstance(current, MemoryError) or any(m in text for m in OOM_MESSAGES):
                return True
        current = current.__cause__ or current.__context__
    return False


@dataclass(frozen=True)
class PassSettings:
    """Settings shared by every item of one batched img2img call.

    Empty strings / zeros mean "same as the image was made with"; the host adapter resolves them.
    Items of one call always share `width` and `height` (one sampler batch has one size).
    """

    width: int
    height: int
    denoise: float
    steps: int = 0
    sampler: str = ""
    scheduler: str = ""
    cfg: float = 0.0
    checkpoint: str = ""
    vae: str = ""
    mask_blur: int = 4
    inpaint_fill: str = "original"
    label: str = ""
    """Stage name for progress text and the host's logs ("hires", "tiles", "detail 1")."""


@dataclass
class Img2ImgItem:
    """One image of a batched call: what differs between items of the same pass."""

    image: Image.Image
    seed: int
    prompt: str
    negative_prompt: str = ""
    mask: Image.Image | None = None
    """L-mode mask, white = re-diffuse. None = the whole image."""


class Host(Protocol):
    """What the pipeline asks of a WebUI."""

    def img2img(self, settings: PassSettings, items: Sequence[Img2ImgItem]) -> list[Image.Image]:
        """Run `items` as ONE batched img2img job; return one image per item, in order.

        Raises HostInterrupted when the user interrupted (or the host returned nothing),
        HostError on any other failure. Never returns a partial list.
        """
        ...

    def upscale(self, image: Image.Image, upscaler: str, width: int, height: int) -> Image.Image:
        """Upscale with the host upscaler named `upscaler` to exactly width×height."""
        ...

    def upscalers(self, installed_only: bool = False) -> list[str]:
        """Names of the upscalers the host has (what `upscale` accepts).

        `installed_only`: just those that run without a download (built-ins, model files on
        disk) — what "auto" picks from, so it never starts a download mid-generation.
        """
        ...

    def checkpoints(self) -> list[str]:
        """Titles of the checkpoints the host has."""
        ...

    def vaes(self) -> list[str]:
        """Names of the VAEs the host has."""
        ...

    def use_checkpoint(
        self, checkpoint: str, vae: str = ""
    ) -> contextlib.AbstractContextManager[None]:
        """Context manager: run the enclosed host calls on `checkpoint` / `vae`, then restore.

        "" or "same" means no swap. The restore happens in a finally, also when loading fails.
        Nested use with the checkpoint already active costs nothing. Implement with
        `CheckpointSwitcher.use`.
        """
        ...

    def checkpoint_scope(self) -> contextlib.AbstractContextManager[None]:
        """Context manager: inside it, `use_checkpoint` blocks defer the restore to its end.

        The folder batch and multi-image jobs wrap their stages in it so consecutive stages on
        B then C never reload the user's checkpoint in between. Implement with
        `CheckpointSwitcher.scope`.
        """
        ...

    def stop_requested(self) -> bool:
        """True when the user pressed Interrupt or Skip: checked before every host call."""
        ...

    def memory_budget(self) -> int | None:
        """Bytes one sampler call may use (Settings → Enhance, or the device's free memory);
        None when unknown (CPU, no torch): then only an out-of-memory error limits a call.
        Optional: a host without it has no budget."""
        ...

    def progress(self, text: str, done: int, total: int) -> None:
        """Show progress of the current stage (WebUI bar, console)."""
        ...


class CheckpointSwitcher:
    """The swap bookkeeping every host shares: what is active, when to load, when to restore.

    A host gives it one function, `load(checkpoint, vae)`, where ("", "") means "the user's own
    checkpoint and VAE". `use()` switches for a block and restores afterwards; inside a `scope()`
    the restore waits until the scope ends, so a folder batch going hires-on-B → faces-on-C pays
    B, C, then one restore — not a round trip to the user's checkpoint between stages.
    A failed load restores the user's checkpoint before the error propagates, through
    `recover` when the host needs more than a plain load for that (A1111 does: a failed read
    leaves the old model object in place but broken, and a plain reload sees "already loaded").
    """

    def __init__(self, load: Callable[[str, str], None], recover: Callable[[], None] | None = None):
        self._load = load
        self._recover = recover or (lambda: load("", ""))
        self.active: tuple[str, str] = ("", "")
        self.loads = 0
        self.history: list[tuple[str, str]] = []
        self._depth = 0

    def _switch(self, target: tuple[str, str]) -> None:
        if target == self.active:
            return
        try:
            self._load(*target)
        except Exception as exc:
            self._restore_after_failure()
            if isinstance(exc, HostError):
                raise
            raise HostError(
                f"could not load checkpoint {target[0]!r} / VAE {target[1]!r}: {exc}"
            ) from exc
        self.active = target
        self.loads += 1
        self.history.append(target)

    def _restore_after_failure(self) -> None:
        user = ("", "")
        try:
            self._recover()
        finally:
            # Even if the restore fails too, never claim a checkpoint we did not load.
            self.active = user

    def restore(self) -> None:
        """Make the user's checkpoint active again (a load only if another one is active)."""
        self._switch(("", ""))

    @contextlib.contextmanager
    def use(self, checkpoint: str, vae: str = "") -> Iterator[None]:
        target = ("" if is_same(checkpoint) else checkpoint, "" if is_same(vae) else vae)
        self._switch(target)
        try:
            yield
        finally:
            if self._depth == 0:
                self.restore()

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self.restore()
