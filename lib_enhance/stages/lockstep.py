"""One stage over many images at once: their sampler requests merged into shared host calls.

Every image of a Generate click (or a group of a folder batch) runs the stage as its own
generator (`context.StageGen`). The driver starts them all, lets those that must agree on a
value agree (`context.Agree`: the detail passes' one processing aspect), then merges the
requests they are waiting on: requests with equal `PassSettings` (same size, denoise, steps,
label …; prompts, seeds and masks are per item) become one queue of items, sent to the host in
calls of as many items as the stage allows and the budget fits (`Budget`). Each image gets its
own results back as soon as all its items are done, and goes on to its next request, which joins
the next round. So four images' hires passes are one sampler call, their tiles of one size share
calls, and the regions of all images of a detail pass are one call.

Out of memory is not a failure: a call that runs out is retried with half the items (the size
remembers it for the rest of the click), down to one; an item that does not fit alone is
handed back to its image's stage as `HostOutOfMemory` (the hires pass then goes tiled, others
fail that stage and keep their image). A host error fails the images of that call only; an
interrupt (the user, or a host that returned nothing) stops every image of the stage: those
whose stage already finished keep its result, the rest keep the image from before it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from ..host import Host, HostError, HostInterrupted, HostOutOfMemory, Img2ImgItem, PassSettings
from .context import Agree, CallLimits, Request, StageContext, StageGen, StageRecord

log = logging.getLogger("enhance")


@dataclass
class Budget:
    """The call limits of the stage running now, and what out-of-memory errors taught so far
    (per call size, the most items that may go together), kept for the whole click."""

    limits: CallLimits = field(default_factory=CallLimits)
    learned: dict[tuple[int, int], int] = field(default_factory=dict)
    oom_retries: int = 0
    host_calls: int = 0
    """Sampler calls made under this budget (shared calls counted once)."""

    def batch(self, width: int, height: int, cap: int = 0) -> int:
        count = self.limits.batch(width, height, cap)
        return min(count, self.learned.get((width, height), count))

    def shrink(self, width: int, height: int, failed: int) -> int:
        """After `failed` items of this size ran out of memory: half of them from now on."""
        count = max(1, failed // 2)
        self.learned[(width, height)] = min(count, self.learned.get((width, height), count))
        self.oom_retries += 1
        return count


@dataclass
class ImageRun:
    """One image going through the stage."""

    ctx: StageContext
    gen: StageGen
    image: Image.Image
    result: Image.Image | None = None
    waiting: Any = None
    """What the stage waits on: a list of `Request`, an `Agree`, or None (finished)."""
    answers: list[Any] = field(default_factory=list)
    ticket: int = 0
    """Bumped at every step: queue slots of an earlier request are stale."""
    own_seconds: float = 0.0

    @property
    def record(self) -> StageRecord:
        return self.ctx.record

    @property
    def finished(self) -> bool:
        return self.waiting is None


@dataclass
class _Slot:
    """One request of one image, inside a group of equal settings."""

    run: ImageRun
    ticket: int
    index: int
    request: Request
    done: int = 0
    outputs: list[Image.Image] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.run.ticket == self.ticket and not self.run.finished


class Lockstep:
    """Drives the generators of one stage; see the module doc."""

    def __init__(self, host: Host, budget: Budget, label: str = ""):
        self.host = host
        self.budget = budget
        self.label = label
        self.stopped: HostInterrupted | None = None

    # ------------------------------------------------------------------ driving

    def run(self, runs: Sequence[ImageRun]) -> None:
        for run in runs:
            self._step(run, lambda run=run: next(run.gen))
        while True:
            self._agree(runs)
            pending = [r for r in runs if isinstance(r.waiting, list)]
            if not pending:
                return
            for settings, slots in self._groups(pending).items():
                if self.stopped is None:
                    self._run_group(settings, slots)
            if self.stopped is not None:
                self._interrupt(runs, self.stopped)

    def _step(self, run: ImageRun, advance: Callable[[], Any]) -> None:
        """Resume one image's stage; record how it ended if it did."""
        run.ticket += 1
        started = time.perf_counter()
        try:
            waiting = advance()
            while isinstance(waiting, list) and not waiting:  # asked for nothing: answer now
                waiting = run.gen.send([])
        except StopIteration as stop:
            self._finish(run, stop.value, "")
        except HostInterrupted as exc:
            self._finish(run, None, "interrupted", exc)
        except (HostError, ValueError, OSError, RuntimeError) as exc:
            self._finish(run, None, "failed", exc)
        except Exception as exc:  # a bug: still keep the user's image, show the traceback
            log.exception("Enhance: %s%s failed unexpectedly, kept the previous image",
                          run.record.name, _for(run))  # fmt: skip
            self._finish(run, None, "failed", exc, logged=True)
        else:
            run.waiting = waiting
            run.answers = [None] * len(waiting) if isinstance(waiting, list) else []
        finally:
            run.own_seconds += time.perf_counter() - started

    def _finish(
        self,
        run: ImageRun,
        image: Image.Image | None,
        status: str,
        exc: BaseException | None = None,
        logged: bool = False,
    ) -> None:
        run.waiting = None
        record = run.record
        if not status:
            run.result = image if image is not None else run.image
            record.status = record.status if record.status == "skipped" else "ok"
            return
        run.result = run.image
        record.status, record.error = status, f"{type(exc).__name__}: {exc}"
        if status == "interrupted":
            record.error = str(exc)
            log.warning("Enhance: %s%s interrupted, kept the previous image: %s", record.name,
                        _for(run), exc)  # fmt: skip
        elif not logged:
            log.error("Enhance: %s%s failed, kept the previous image: %s", record.name,
                      _for(run), record.error)  # fmt: skip

    def _agree(self, runs: Sequence[ImageRun]) -> None:
        """Answer every `Agree` (all images waiting on one key get one combined value)."""
        while True:
            waiting = [r for r in runs if isinstance(r.waiting, Agree)]
            if not waiting:
                return
            key = waiting[0].waiting.key
            group = [r for r in waiting if r.waiting.key == key]
            try:
                value = group[0].waiting.combine([r.waiting.value for r in group])
            except Exception as exc:  # each image's stage reports it
                for run in group:
                    self._step(run, lambda run=run, exc=exc: run.gen.throw(exc))
                continue
            for run in group:
                self._step(run, lambda run=run, value=value: run.gen.send(value))

    def _groups(self, pending: Sequence[ImageRun]) -> dict[PassSettings, list[_Slot]]:
        groups: dict[PassSettings, list[_Slot]] = {}
        for run in pending:
            for index, request in enumerate(run.waiting):
                slot = _Slot(run, run.ticket, index, request)
                groups.setdefault(request.settings, []).append(slot)
        return groups

    # ------------------------------------------------------------------ one group

    def _run_group(self, settings: PassSettings, slots: list[_Slot]) -> None:
        caps = [s.request.batch_size for s in slots if s.request.batch_size > 0]
        cap = min(caps) if caps else 0
        width, height = settings.width, settings.height
        total = sum(len(s.request.items) for s in slots)
        done = 0
        while True:
            live = [s for s in slots if s.live and s.done < len(s.request.items)]
            if not live:
                return
            if self.host.stop_requested():
                self.stopped = HostInterrupted(f"{settings.label}: interrupted by the user")
                return
            chunk = _take(live, self.budget.batch(width, height, cap))
            items = [slot.request.items[i] for slot, i in chunk]
            try:
                images = self._call(settings, chunk, items)
            except HostOutOfMemory as exc:
                self._out_of_memory(settings, chunk, exc)
                continue
            except HostInterrupted as exc:
                self.stopped = exc
                return
            except HostError as exc:  # this call's images fail the stage; the others go on
                for run in _runs(chunk):
                    self._step(run, lambda run=run, exc=exc: run.gen.throw(exc))
                continue
            for (slot, _), image in zip(chunk, images, strict=True):
                slot.outputs.append(image)
                slot.done += 1
            done += len(items)
            self.host.progress(settings.label or self.label, done, total)
            for slot in {id(s): s for s, _ in chunk}.values():
                if slot.live and slot.done == len(slot.request.items):
                    self._answer(slot)

    def _call(
        self, settings: PassSettings, chunk: list[tuple[_Slot, int]], items: list[Img2ImgItem]
    ) -> list[Image.Image]:
        """One host call, counted on every image that has items in it."""
        started = time.perf_counter()
        self.budget.host_calls += 1
        try:
            images = self.host.img2img(settings, items)
        finally:
            elapsed = time.perf_counter() - started
            for run in _runs(chunk):
                share = sum(1 for slot, _ in chunk if slot.run is run) / len(items)
                run.record.host_seconds += elapsed * share
                run.record.host_calls += 1
                run.record.batch_sizes.append(len(items))
        if len(images) != len(items):
            raise HostInterrupted(f"{settings.label}: host returned {len(images)} of {len(items)}")
        return images

    def _out_of_memory(
        self, settings: PassSettings, chunk: list[tuple[_Slot, int]], exc: HostOutOfMemory
    ) -> None:
        size = f"{settings.width}×{settings.height}"
        if len(chunk) > 1:
            count = self.budget.shrink(settings.width, settings.height, len(chunk))
            log.warning("Enhance: %s: out of memory with %d items of %s per call, trying %d",
                        settings.label, len(chunk), size, count)  # fmt: skip
            return
        (slot, _), = chunk  # fmt: skip
        log.warning("Enhance: %s: one item of %s does not fit in memory", settings.label, size)
        self._step(slot.run, lambda: slot.run.gen.throw(exc))

    def _answer(self, slot: _Slot) -> None:
        run = slot.run
        run.answers[slot.index] = slot.outputs
        if all(answer is not None for answer in run.answers):
            answers = run.answers
            self._step(run, lambda: run.gen.send(answers))

    def _interrupt(self, runs: Sequence[ImageRun], exc: HostInterrupted) -> None:
        """Stop every image still running: its stage ends "interrupted", image kept."""
        for run in runs:
            if run.finished:
                continue
            self._step(run, lambda run=run: run.gen.throw(exc))
            if not run.finished:  # a stage that swallowed the interrupt: stop it anyway
                run.gen.close()
                self._finish(run, None, "interrupted", exc)


def _take(live: list[_Slot], count: int) -> list[tuple[_Slot, int]]:
    """The next `count` items of the group, in image order then item order."""
    chunk: list[tuple[_Slot, int]] = []
    for slot in live:
        for index in range(slot.done, len(slot.request.items)):
            if len(chunk) == count:
                return chunk
            chunk.append((slot, index))
    return chunk


def _runs(chunk: list[tuple[_Slot, int]]) -> list[ImageRun]:
    return list({id(slot.run): slot.run for slot, _ in chunk}.values())


def _for(run: ImageRun) -> str:
    return f" ({run.ctx.job.name})" if run.ctx.job.name else ""
