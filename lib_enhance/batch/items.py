"""What travels through the work queue: an item (one stage of one image) and its result.

Both are flat maps of short byte strings plus PNG bytes — never a path, never a pickle — so a
worker needs no shared disk and a hostile or corrupt entry cannot make it open a file or run
code. Every field is checked on arrival: a worker validates an item's settings with the same
spec as the API (`spec.config.validate`) and decodes its image as PNG only; the starting server
checks a result the same way before it writes anything.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

from ..spec import config as cfgmod
from ..stages.pipeline import Stage, build_stages

VERSION = b"1"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEY = re.compile(r"[0-9a-f]{16}\.[0-9]{1,2}")
WORKER_ID = re.compile(r"[\w.:@+-]{1,100}")
JOB_FIELDS: dict[str, tuple[type, ...]] = {
    "prompt": (str,),
    "negative_prompt": (str,),
    "seed": (int,),
    "steps": (int,),
    "sampler": (str,),
    "scheduler": (str,),
    "cfg": (int, float),
}
"""`ImageJob` fields an item carries (what the image was made with), and their JSON types."""

STATUSES = ("ok", "skipped", "failed")
RECORD_KEYS = ("status", "error", "host_calls", "seconds", "ran", "seams")
MAX_TEXT = 1 << 16


class InvalidEntry(ValueError):
    """A queue entry that is not a well-formed item or result; says which field and why."""


@dataclass
class Item:
    """One stage of one image, as a worker receives it."""

    key: str
    """``<image id>.<stage number>``: unique per image and stage within a job."""
    stage: int
    """1-based index into `build_stages(config)`."""
    name: str
    """The input file's name, for progress and logs only (never opened)."""
    job: dict[str, Any]
    config: dict[str, Any]
    image: Image.Image
    config_text: str = ""

    @property
    def stage_def(self) -> Stage:
        return build_stages(self.config)[self.stage - 1]


@dataclass
class Result:
    """What a worker sends back for an item: the stage record and, when it ran, the image."""

    key: str
    stage: int
    worker: str
    entry: dict[str, Any]
    """The manifest's stage entry: status, error, host_calls, seconds, ran, seams."""
    png: bytes = b""
    fatal: bool = False
    """Given up because workers died on it: the image fails, its later stages are not tried."""

    @property
    def status(self) -> str:
        return self.entry["status"]


# ------------------------------------------------------------------------------ encoding


def png_bytes(image: Image.Image) -> bytes:
    """PNG at compression level 1: intermediates are read once, level 6 costs more than a stage
    of the test host."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def read_png(data: bytes, what: str = "image") -> Image.Image:
    """Decode PNG bytes (and nothing else: no other format's decoder is ever tried)."""
    if not isinstance(data, bytes) or not data.startswith(PNG_SIGNATURE):
        raise InvalidEntry(f"{what}: not PNG data")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
            img.load()
            return img.copy()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InvalidEntry(f"{what}: unreadable PNG: {exc}") from exc


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


def encode_item(
    key: str, stage: int, name: str, job: Mapping[str, Any], config_text: str, png: bytes
) -> dict[bytes, bytes]:
    """The stream entry for an item. `config_text` is the validated config as JSON."""
    return {
        b"v": VERSION,
        b"key": key.encode("ascii"),
        b"stage": str(stage).encode("ascii"),
        b"name": name.encode("utf-8"),
        b"job": _json({k: job[k] for k in JOB_FIELDS}),
        b"config": config_text.encode("utf-8"),
        b"image": png,
    }


def encode_result(result: Result) -> dict[bytes, bytes]:
    return {
        b"v": VERSION,
        b"key": result.key.encode("ascii"),
        b"stage": str(result.stage).encode("ascii"),
        b"worker": result.worker.encode("utf-8"),
        b"entry": _json(result.entry),
        b"image": result.png,
        b"fatal": b"1" if result.fatal else b"0",
    }


def config_text(config: Mapping[str, Any]) -> str:
    return _json(config).decode("utf-8")


# ------------------------------------------------------------------------------ decoding


def _field(fields: Mapping[bytes, bytes], name: str) -> bytes:
    value = fields.get(name.encode("ascii"))
    if not isinstance(value, bytes):
        raise InvalidEntry(f"{name}: missing")
    return value


def _text(fields: Mapping[bytes, bytes], name: str, limit: int = MAX_TEXT) -> str:
    raw = _field(fields, name)
    if len(raw) > limit:
        raise InvalidEntry(f"{name}: longer than {limit} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEntry(f"{name}: not UTF-8 text") from exc


def _key(fields: Mapping[bytes, bytes]) -> tuple[str, int]:
    if _field(fields, "v") != VERSION:
        raise InvalidEntry(f"v: protocol version {fields.get(b'v')!r}, this server speaks 1")
    key = _text(fields, "key", 32)
    if not KEY.fullmatch(key):
        raise InvalidEntry(f"key: {key!r} is not <16 hex digits>.<stage>")
    stage = _text(fields, "stage", 4)
    if not stage.isdigit() or int(stage) != int(key.rsplit(".", 1)[1]) or int(stage) < 1:
        raise InvalidEntry(f"stage: {stage!r} does not match the key {key!r}")
    return key, int(stage)


def entry_key(fields: Mapping[bytes, bytes]) -> str:
    """The item key of an entry, or "" when it has none that is well-formed."""
    try:
        return _key(fields)[0]
    except InvalidEntry:
        return ""


def _file_name(text: str) -> str:
    if not text or len(text) > 255 or any(c in text for c in "/\\\x00") or text in (".", ".."):
        raise InvalidEntry(f"name: {text!r} is not a plain file name")
    return text


def _object(text: str, what: str, keys: Any) -> dict[str, Any]:
    """A JSON object with exactly `keys`, or InvalidEntry naming `what`."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidEntry(f"{what}: not JSON ({exc})") from exc
    if not isinstance(value, dict) or set(value) != set(keys):
        raise InvalidEntry(f"{what}: must be an object with exactly {', '.join(keys)}")
    return value


def _job(text: str) -> dict[str, Any]:
    job = _object(text, "job", JOB_FIELDS)
    for name, kinds in JOB_FIELDS.items():
        if isinstance(job[name], bool) or not isinstance(job[name], kinds):
            raise InvalidEntry(f"job.{name}: {job[name]!r} is not {kinds[0].__name__}")
    return job


class ConfigCache:
    """Validated configs by their JSON text: every item is checked, a job's config only once."""

    def __init__(self, size: int = 8):
        self.size = size
        self._cache: dict[str, dict[str, Any]] = {}

    def validate(self, text: str) -> dict[str, Any]:
        if text not in self._cache:
            try:
                raw = json.loads(text)
            except ValueError as exc:
                raise InvalidEntry(f"config: not JSON ({exc})") from exc
            try:
                config = cfgmod.validate(raw)
            except cfgmod.ConfigError as exc:
                raise InvalidEntry(f"config: {exc}") from exc
            if len(self._cache) >= self.size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[text] = config
        return self._cache[text]


def decode_item(fields: Mapping[bytes, bytes], configs: ConfigCache) -> Item:
    """A checked `Item`, or InvalidEntry naming the bad field."""
    key, stage = _key(fields)
    text = _text(fields, "config")
    config = configs.validate(text)
    count = len(build_stages(config))
    if stage > count:
        raise InvalidEntry(f"stage: {stage} but the settings enable {count} stage(s)")
    return Item(
        key,
        stage,
        _file_name(_text(fields, "name", 1024)),
        _job(_text(fields, "job")),
        config,
        read_png(_field(fields, "image")),
        text,
    )


def _entry(text: str) -> dict[str, Any]:
    entry = _object(text, "entry", RECORD_KEYS)
    if entry["status"] not in STATUSES:
        raise InvalidEntry(f"entry.status: {entry['status']!r} is not one of {STATUSES}")
    checks = {"error": str, "host_calls": int, "seconds": (int, float), "ran": dict, "seams": list}
    for name, kind in checks.items():
        if not isinstance(entry[name], kind):
            raise InvalidEntry(f"entry.{name}: {entry[name]!r} has the wrong type")
    return entry


def decode_result(fields: Mapping[bytes, bytes]) -> Result:
    """A checked `Result` (its PNG decodes), or InvalidEntry naming the bad field."""
    key, stage = _key(fields)
    worker = _text(fields, "worker", 100)
    if not WORKER_ID.fullmatch(worker):
        raise InvalidEntry(f"worker: {worker!r} is not a worker id")
    entry = _entry(_text(fields, "entry"))
    png = _field(fields, "image")
    if entry["status"] == "ok":
        read_png(png, "image")
    elif png:
        raise InvalidEntry(f"image: a {entry['status']} result carries no image")
    return Result(key, stage, worker, entry, png, _field(fields, "fatal") == b"1")
