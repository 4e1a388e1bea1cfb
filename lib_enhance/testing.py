"""A deterministic, recording host for tests and benchmarks (no WebUI, no GPU).

Its img2img is a stand-in for diffusion that keeps what the pipeline's correctness depends on:
the result depends on seed and denoise (so two tiles with different seeds differ, and a seam or a
region edge is measurable), each item's mask is a latent mask as the host makes it (rounded;
what lies outside is held fixed, so it comes back unchanged), the masked area starts from the
pass's masked content (original, fill, latent noise, latent nothing), and the output has the
requested size. Every call, batch size and checkpoint
load is recorded, so cost is asserted exactly rather than timed. It runs out of memory where told
to (above a pixel or batch budget), as a GPU would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from .geometry.detection import Detection
from .host import (
    CheckpointSwitcher,
    HostError,
    HostInterrupted,
    HostOutOfMemory,
    Img2ImgItem,
    PassSettings,
)
from .spec.config import BUILTIN_FACE

DEFAULT_UPSCALERS = (
    "None",
    "Lanczos",
    "Nearest",
    "R-ESRGAN 4x+",
    "R-ESRGAN 4x+ Anime6B",
    "4x-UltraSharp",
    "DAT x4",
    "Latent",
)


@dataclass
class HostCall:
    """One img2img call as the host saw it."""

    label: str
    batch_size: int
    size: tuple[int, int]
    checkpoint: str
    vae: str
    denoise: float
    steps: int
    seeds: list[int]
    prompts: list[str]
    masked: bool
    masks: int = 0
    """How many items carried their own mask."""
    inpaint_fill: str = "original"


@dataclass
class TestHost:
    """Implements `host.Host` deterministically. Knobs make it fail the way real hosts do.

    - `fail_checkpoints`: loading these raises (like a corrupt file or OOM on load);
    - `fail_labels`: img2img for a stage whose label starts with one of these raises HostError;
    - `interrupt_after`: after that many img2img calls, `stop_requested()` turns true;
    - `empty_after`: after that many calls, img2img returns no images (host-side interrupt);
    - `oom_pixels` / `oom_batch`: a call holding more pixels (items × width × height) or more
      items raises `HostOutOfMemory` (recorded in `oom_calls`, not in `calls`);
    - `memory`: what `memory_budget()` reports (bytes; None = unknown, as on a CPU).
    """

    __test__ = False  # not a pytest class

    upscaler_names: Sequence[str] = DEFAULT_UPSCALERS
    checkpoint_names: Sequence[str] = ("base [aaaa1111]", "B [bbbb2222]", "C [cccc3333]")
    vae_names: Sequence[str] = ("None", "vae-ft-mse.safetensors")
    fail_checkpoints: Iterable[str] = ()
    fail_labels: Iterable[str] = ()
    interrupt_after: int | None = None
    empty_after: int | None = None
    strength: float = 24.0
    """Amplitude (grey levels at denoise 1) of the seed-dependent change."""
    calls: list[HostCall] = field(default_factory=list)
    upscale_calls: list[tuple[str, tuple[int, int]]] = field(default_factory=list)
    progress_log: list[tuple[str, int, int]] = field(default_factory=list)
    stop: bool = False
    not_downloaded: Sequence[str] = ()
    """Upscalers listed but whose model file is not on disk yet."""
    oom_pixels: int | None = None
    oom_batch: int | None = None
    memory: int | None = None
    oom_calls: list[HostCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.switcher = CheckpointSwitcher(self._load)
        self.fail_checkpoints = set(self.fail_checkpoints)
        self.fail_labels = tuple(self.fail_labels)

    # ---- checkpoints

    def _load(self, checkpoint: str, vae: str) -> None:
        if checkpoint and checkpoint not in self.checkpoint_names:
            raise HostError(f"unknown checkpoint {checkpoint!r}")
        if checkpoint in self.fail_checkpoints:
            raise HostError(f"loading {checkpoint!r} failed")

    @property
    def loads(self) -> int:
        """Checkpoint loads so far, restores of the user's checkpoint included."""
        return self.switcher.loads

    @property
    def active_checkpoint(self) -> str:
        return self.switcher.active[0] or self.checkpoint_names[0]

    def use_checkpoint(self, checkpoint: str, vae: str = "") -> contextlib.AbstractContextManager:
        return self.switcher.use(checkpoint, vae)

    def checkpoint_scope(self) -> contextlib.AbstractContextManager:
        return self.switcher.scope()

    # ---- lists, progress, stop

    def upscalers(self, installed_only: bool = False) -> list[str]:
        names = list(self.upscaler_names)
        return [n for n in names if n not in self.not_downloaded] if installed_only else names

    def checkpoints(self) -> list[str]:
        return list(self.checkpoint_names)

    def vaes(self) -> list[str]:
        return list(self.vae_names)

    def stop_requested(self) -> bool:
        if self.interrupt_after is not None and len(self.calls) >= self.interrupt_after:
            return True
        return self.stop

    def progress(self, text: str, done: int, total: int) -> None:
        self.progress_log.append((text, done, total))

    def memory_budget(self) -> int | None:
        return self.memory

    # ---- work

    def upscale(self, image: Image.Image, upscaler: str, width: int, height: int) -> Image.Image:
        if upscaler not in self.upscaler_names:
            raise HostError(f"unknown upscaler {upscaler!r}")
        self.upscale_calls.append((upscaler, (width, height)))
        method = Image.NEAREST if upscaler == "Nearest" else Image.LANCZOS
        return image.convert("RGB").resize((width, height), method)

    def img2img(self, settings: PassSettings, items: Sequence[Img2ImgItem]) -> list[Image.Image]:
        pixels = len(items) * settings.width * settings.height
        over_pixels = self.oom_pixels is not None and pixels > self.oom_pixels
        if over_pixels or (self.oom_batch is not None and len(items) > self.oom_batch):
            self.oom_calls.append(self._call(settings, items))
            raise HostOutOfMemory(f"out of memory: {len(items)} × {settings.width}×"
                                  f"{settings.height} in {settings.label}")  # fmt: skip
        self._record(settings, items)
        if settings.label.startswith(self.fail_labels) and self.fail_labels:
            raise HostError(f"sampler crashed in {settings.label}")
        if self.empty_after is not None and len(self.calls) > self.empty_after:
            raise HostInterrupted("host returned no images")
        return [self._diffuse(settings, item) for item in items]

    def _record(self, settings: PassSettings, items: Sequence[Img2ImgItem]) -> None:
        self.calls.append(self._call(settings, items))

    def _call(self, settings: PassSettings, items: Sequence[Img2ImgItem]) -> HostCall:
        return HostCall(
            label=settings.label,
            batch_size=len(items),
            size=(settings.width, settings.height),
            checkpoint=self.active_checkpoint,
            vae=self.switcher.active[1],
            denoise=settings.denoise,
            steps=settings.steps,
            seeds=[i.seed for i in items],
            prompts=[i.prompt for i in items],
            masked=any(i.mask is not None for i in items),
            masks=sum(i.mask is not None for i in items),
            inpaint_fill=settings.inpaint_fill,
        )

    def _diffuse(self, settings: PassSettings, item: Img2ImgItem) -> Image.Image:
        """Seeded, denoise-scaled change: a brightness offset plus low-amplitude texture."""
        size = (settings.width, settings.height)
        base = np.asarray(item.image.convert("RGB").resize(size, Image.LANCZOS), np.float32)
        rng = np.random.default_rng(item.seed)
        offset = (rng.random() - 0.5) * self.strength
        texture = rng.standard_normal(base.shape[:2], np.float32)[..., None] * 2.0
        held = None
        start = base
        if item.mask is not None:
            # the host's latent mask: rounded; 1 = redraw, 0 = held at every step
            held = np.around(np.asarray(item.mask.convert("L").resize(size), np.float32) / 255)
            start = self._masked_start(base, held, settings.inpaint_fill, rng)
        out = start + settings.denoise * (offset + texture)
        if held is not None:
            out = base + held[..., None] * (out - base)
        return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))

    @staticmethod
    def _masked_start(
        base: np.ndarray, redraw: np.ndarray, content: str, rng: np.random.Generator
    ) -> np.ndarray:
        """What the masked area starts from (the host's "masked content")."""
        inside = redraw[..., None] > 0
        if content == "fill" and (~inside).any():
            fill = base[~inside[..., 0]].mean(axis=0)
        elif content == "latent noise":
            fill = rng.uniform(0, 255, base.shape).astype(np.float32)
        elif content == "latent nothing":
            fill = np.zeros_like(base)
        else:
            return base
        return np.where(inside, fill, base)

    # ---- summaries for asserts and benchmarks

    def calls_by_label(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for call in self.calls:
            counts[call.label] = counts.get(call.label, 0) + 1
        return counts

    @contextlib.contextmanager
    def stopped_after(self, n_calls: int) -> Iterator[None]:
        """Within the block, the user "presses Interrupt" once n_calls more calls were made."""
        previous = self.interrupt_after
        self.interrupt_after = len(self.calls) + n_calls
        try:
            yield
        finally:
            self.interrupt_after = previous


class CentreFaceDetector:
    """Stands in for a face detector: one face-sized box in the upper middle of every image.

    Deterministic and instant, so batch and pipeline costs can be counted without a model.
    """

    def __init__(self, name: str = BUILTIN_FACE):
        self.name = name

    def detect(self, image: Image.Image, confidence: float = 0.0, classes: Sequence[str] = ()):
        w, h = image.size
        return [Detection((w // 3, h // 5, 2 * w // 3, h // 2), 0.9, "face")]


@dataclass
class StaticRegistry:
    """The detector-registry interface (`names`, `get`) over fixed detectors, by name."""

    detectors: dict[str, Any] = field(default_factory=lambda: {BUILTIN_FACE: CentreFaceDetector()})

    def names(self) -> list[str]:
        return list(self.detectors)

    def get(self, name: str) -> Any:
        return self.detectors[name]


# ---------------------------------------------------------------------------- queue processes


class QueueTestHost(TestHost):
    """The test host as a queue worker sees it: a fixed cost per img2img call (a sleep, so
    several workers scale as GPUs would), a checkpoint it may lack, prompts that make it fail
    (a poison image) or die at once (SIGKILL, as an out-of-memory kill would), and every
    checkpoint load reported to `on_load`."""

    __test__ = False

    def __init__(self, cost=0.0, lack=(), fail_prompts=(), die_prompts=(), on_load=None, **kw):
        names = [n for n in TestHost.checkpoint_names if n not in set(lack)]
        super().__init__(checkpoint_names=tuple(names), **kw)
        self.cost = cost
        self.fail_prompts = tuple(fail_prompts)
        self.die_prompts = tuple(die_prompts)
        self.on_load = on_load or (lambda checkpoint: None)

    def _load(self, checkpoint: str, vae: str) -> None:
        super()._load(checkpoint, vae)
        self.on_load(checkpoint)

    def img2img(self, settings: PassSettings, items: Sequence[Img2ImgItem]) -> list[Image.Image]:
        import os
        import signal
        import time

        prompts = " ".join(i.prompt for i in items)
        if any(p in prompts for p in self.die_prompts):
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(self.cost)
        if any(p in prompts for p in self.fail_prompts):
            self._record(settings, items)
            raise HostError(f"poisoned prompt in {settings.label}")
        return super().img2img(settings, items)


def queue_process(argv: Sequence[str] | None = None) -> None:
    """Run a queue worker or coordinator on the test host in this process, for the tests that
    kill one (tests/test_queue.py) and for bench/queue_cost.py:

        worker URL ID [--claim-after S] [--cost S] [--lack CKPT] [--fail PROMPT] [--die PROMPT]
                      [--events FILE] [--idle-grace S]
        coordinate URL INPUT OUTPUT [--config JSON] [--claim-after S] [--result FILE]

    Events (item started/done, checkpoint loads) are JSON lines in --events, flushed at once so
    a SIGKILLed worker's last words are kept. SIGTERM stops a worker cleanly.
    """
    import argparse
    import json
    import os
    import signal
    import sys
    import time

    from .batch.queue import QueueConfig, RedisQueue
    from .spec.config import HostNames

    parser = argparse.ArgumentParser(prog="queue_process")
    parser.add_argument("role", choices=("worker", "coordinate"))
    parser.add_argument("url")
    parser.add_argument("rest", nargs="*")
    parser.add_argument("--claim-after", type=float, default=30.0)
    parser.add_argument("--cost", type=float, default=0.0)
    parser.add_argument("--lack", action="append", default=[])
    parser.add_argument("--fail", action="append", default=[])
    parser.add_argument("--die", action="append", default=[])
    parser.add_argument("--events", default="")
    parser.add_argument("--idle-grace", type=float, default=2.0)
    parser.add_argument("--config", default="")
    parser.add_argument("--result", default="")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    queue = RedisQueue(QueueConfig(args.url, args.claim_after))
    if args.role == "coordinate":
        from .batch.coordinator import run_queued_batch

        src, dst = args.rest
        result = run_queued_batch(queue, src, dst, json.loads(args.config) if args.config else None)
        if args.result:
            summary = {"totals": result.totals, "errors": result.errors, "stopped": result.stopped}
            with open(args.result, "w", encoding="utf-8") as fh:
                json.dump(summary, fh)
        return

    from .batch.worker import QueueWorker

    events = open(args.events, "a", encoding="utf-8") if args.events else None  # noqa: SIM115

    def emit(kind: str, data: Any) -> None:
        if events is not None:
            events.write(json.dumps({"event": kind, "t": time.time(), **dict(data)}) + "\n")
            events.flush()

    host = QueueTestHost(args.cost, args.lack, args.fail, args.die,
                         on_load=lambda ckpt: emit("load", {"checkpoint": ckpt}))  # fmt: skip
    registry = StaticRegistry()
    names = HostNames({"upscaler": host.upscalers(), "checkpoint": host.checkpoints(),
                       "vae": host.vaes(), "detector": registry.names()})  # fmt: skip
    worker = QueueWorker(queue, args.rest[0], lambda: host, lambda: names, lambda: registry,
                         idle_grace=args.idle_grace, block_ms=100, on_event=emit)  # fmt: skip
    signal.signal(signal.SIGTERM, lambda *_: worker.stopping.set())
    emit("ready", {"pid": os.getpid()})
    worker.serve(poll=0.05)
