"""What travels through the queue: items and results are checked field by field on arrival
(settings with the API's spec, images as PNG only, no paths, no pickles), the queue URL is never
shown with its password, and a worker's refusals name the stage and the missing model."""

from __future__ import annotations

import io
import json
import pickle

import pytest
from PIL import Image

from lib_enhance.batch import items
from lib_enhance.batch.queue import QueueConfig, redact
from lib_enhance.batch.worker import refusals
from lib_enhance.spec import config as cfgmod

CONFIG = cfgmod.validate(
    {"hires": {"enabled": True, "upscaler": "Lanczos", "checkpoint": "B [bbbb2222]"},
     "detail": [{"model": cfgmod.BUILTIN_FACE, "checkpoint": "C [cccc3333]"}]}
)  # fmt: skip
JOB = {"prompt": "a fox", "negative_prompt": "", "seed": 7, "steps": 20, "sampler": "Euler a",
       "scheduler": "", "cfg": 7.0}  # fmt: skip
KEY = "0123456789abcdef.2"


def _png(size=(8, 6)) -> bytes:
    return items.png_bytes(Image.new("RGB", size, (1, 2, 3)))


def _item(**override) -> dict[bytes, bytes]:
    fields = items.encode_item(KEY, 2, "a.png", JOB, items.config_text(CONFIG), _png())
    fields.update({k.encode(): v for k, v in override.items()})
    return fields


def test_an_item_round_trips_with_its_settings_validated():
    item = items.decode_item(_item(), items.ConfigCache())
    assert (item.key, item.stage, item.name, item.job) == (KEY, 2, "a.png", JOB)
    assert item.config == CONFIG and item.stage_def.name == "detail 1"
    assert item.image.size == (8, 6) and item.image.getpixel((0, 0)) == (1, 2, 3)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("name", b"../../etc/passwd", "not a plain file name"),
        ("name", b"/srv/in/a.png", "not a plain file name"),
        ("image", pickle.dumps({"x": 1}), "not PNG data"),
        ("image", items.PNG_SIGNATURE + b"garbage", "unreadable PNG"),
        ("config", b'{"hires": {"denoise": 3}}', "config: hires.denoise"),
        ("config", b"not json", "config: not JSON"),
        ("job", json.dumps({**JOB, "path": "/x"}).encode(), "exactly prompt"),
        ("job", json.dumps({**JOB, "seed": "7"}).encode(), "job.seed"),
        ("key", b"../x.2", "is not <16 hex digits>"),
        ("stage", b"3", "does not match the key"),
        ("v", b"9", "protocol version"),
    ],
)
def test_a_bad_item_is_refused_naming_the_field(field, value, says):
    with pytest.raises(items.InvalidEntry) as err:
        items.decode_item(_item(**{field: value}), items.ConfigCache())
    assert says in str(err.value)


def test_a_stage_past_the_enabled_ones_is_refused():
    one_stage = items.config_text(cfgmod.validate({"hires": {"enabled": True}}))
    with pytest.raises(items.InvalidEntry, match="enable 1 stage"):
        items.decode_item(_item(config=one_stage.encode()), items.ConfigCache())


def test_only_png_is_decoded():
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="BMP")
    with pytest.raises(items.InvalidEntry, match="not PNG"):
        items.read_png(buffer.getvalue())


def test_a_result_round_trips_and_a_bad_one_is_refused():
    entry = {"status": "ok", "error": "", "host_calls": 1, "seconds": 0.5, "ran": {},
             "seams": [[0, 0, 4, 4]]}  # fmt: skip
    result = items.Result(KEY, 2, "host-1:7860", entry, _png())
    back = items.decode_result(items.encode_result(result))
    assert (back.key, back.worker, back.entry, back.fatal) == (KEY, "host-1:7860", entry, False)
    fields = items.encode_result(result)
    for name, value, says in [
        (b"worker", b"a b/c", "not a worker id"),
        (b"entry", json.dumps({**entry, "status": "great"}).encode(), "entry.status"),
        (b"image", b"", "not PNG"),
    ]:
        with pytest.raises(items.InvalidEntry, match=says):
            items.decode_result({**fields, name: value})
    failed = items.Result(KEY, 2, "w", {**entry, "status": "failed"}, _png())
    with pytest.raises(items.InvalidEntry, match="carries no image"):
        items.decode_result(items.encode_result(failed))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:pw@10.0.0.5/2", "redis://user:***@10.0.0.5/2"),
        ("rediss://u:p%40ss@[::1]:6380/0", "rediss://u:***@[::1]:6380/0"),
        ("redis://host:6379/0", "redis://host:6379/0"),
    ],
)
def test_the_url_is_shown_without_its_password(url, shown):
    assert redact(url) == shown == QueueConfig(url).shown


def test_refusals_name_the_stage_and_the_missing_model():
    lists = {"checkpoint": ["base [aaaa1111]", "B [bbbb2222]"], "upscaler": ["Lanczos"],
             "detector": [cfgmod.BUILTIN_FACE]}  # fmt: skip
    names = cfgmod.HostNames(lists)
    refused = refusals(CONFIG, names)
    assert list(refused) == ["detail 1"] and "C [cccc3333]" in refused["detail 1"]
    assert refusals(CONFIG, None) == {}
    names = cfgmod.HostNames({"upscaler": ["R-ESRGAN 4x+"]})
    assert list(refusals(CONFIG, names)) == ["hires"]
