"""The args spec: validation errors a caller can act on, schema, and exact infotext round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib_enhance.spec import config as c
from lib_enhance.spec import infotext


def problems_of(raw, hosts=None) -> list[c.Problem]:
    with pytest.raises(c.ConfigError) as err:
        c.validate(raw, hosts)
    return err.value.problems


def test_empty_dict_means_defaults_with_nothing_enabled():
    cfg = c.validate({})
    assert cfg == c.defaults()
    assert not c.any_stage_enabled(cfg)
    assert 0.3 <= cfg["hires"]["denoise"] <= 0.45  # the sweet spot


def test_typo_in_a_key_is_an_error_that_suggests_the_right_key():
    (problem,) = problems_of({"hires": {"denosie": 0.4}})
    assert problem.path == "hires.denosie"
    assert "did you mean 'denoise'" in problem.hint


def test_typo_in_a_section_name_is_an_error_too():
    (problem,) = problems_of({"detial": [{}]})
    assert problem.path == "detial" and "'detail'" in problem.hint


def test_out_of_range_names_field_value_and_range():
    (problem,) = problems_of({"hires": {"denoise": 1.5}})
    assert problem.path == "hires.denoise"
    assert problem.value == 1.5
    assert "from 0 to 1" in problem.allowed
    assert "hires.denoise: got 1.5" in str(c.ConfigError([problem]))


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"hires": {"enabled": "yes"}}, "hires.enabled"),
        ({"hires": {"steps": 20.5}}, "hires.steps"),
        ({"hires": {"steps": True}}, "hires.steps"),
        ({"tiles": {"tile_size": 500}}, "tiles.tile_size"),
        ({"tiles": {"seam_fix": "bands"}}, "tiles.seam_fix"),
        ({"detail": [{}, {"confidence": "high"}]}, "detail[1].confidence"),
        ({"detail": "face"}, "detail"),
        ({"preset": "photo"}, "preset"),
        ({"qa": {"drift_threshold": float("nan")}}, "qa.drift_threshold"),
    ],
)
def test_each_kind_of_bad_value_is_reported_at_its_path(raw, path):
    assert [p.path for p in problems_of(raw)] == [path]


def test_every_problem_is_reported_at_once():
    paths = {p.path for p in problems_of({"hires": {"scale": 0, "x": 1}, "tiles": {"overlap": -8}})}
    assert paths == {"hires.scale", "hires.x", "tiles.overlap"}


def test_aliases_are_accepted_and_canonicalised():
    cfg = c.validate({"hr": {"denoising_strength": 0.4}, "detailer": {"ad_model": "x"}})
    assert cfg["hires"]["denoise"] == 0.4
    assert cfg["detail"] == [{**c.DETAIL.defaults(), "model": "x"}]


def test_integral_floats_become_ints_and_ints_become_floats():
    cfg = c.validate({"hires": {"steps": 20.0, "scale": 2}})
    assert cfg["hires"]["steps"] == 20 and isinstance(cfg["hires"]["steps"], int)
    assert isinstance(cfg["hires"]["scale"], float)


def test_names_are_checked_against_the_hosts_lists_with_a_suggestion():
    hosts = c.HostNames({"upscaler": ["Lanczos", "R-ESRGAN 4x+"], "checkpoint": ["base", "B"]})
    (problem,) = problems_of({"hires": {"upscaler": "R-ESRGAN 4x"}}, hosts)
    assert problem.path == "hires.upscaler"
    assert "R-ESRGAN 4x+" in problem.hint
    assert c.validate({"hires": {"upscaler": "auto", "checkpoint": "same"}}, hosts)


def test_error_body_is_json_with_field_value_allowed():
    err = c.ConfigError(problems_of({"tiles": {"batch_size": 0}}))
    body = json.loads(json.dumps(err.as_dict()))
    assert body["problems"][0]["field"] == "tiles.batch_size"
    assert body["problems"][0]["value"] == 0
    assert "from 1 to 16" in body["problems"][0]["allowed"]


def test_schema_lists_every_field_with_default_and_range():
    schema = c.json_schema()
    for section in c.SECTIONS:
        node = schema["properties"][section.name]
        node = node["items"] if section.repeated else node
        assert node["additionalProperties"] is False
        assert set(node["properties"]) == {f.name for f in section.fields}
    denoise = schema["properties"]["hires"]["properties"]["denoise"]
    assert (denoise["minimum"], denoise["maximum"], denoise["default"]) == (0.0, 1.0, 0.35)
    assert schema["properties"]["detail"]["type"] == "array"


def test_schema_defaults_validate():
    schema = c.json_schema()
    raw = {
        name: (
            [{k: v["default"] for k, v in node["items"]["properties"].items()}]
            if node.get("type") == "array"
            else {k: v["default"] for k, v in node["properties"].items()}
        )
        for name, node in schema["properties"].items()
        if name != "preset"
    }
    assert c.validate(raw)["hires"] == c.HIRES.defaults()


def field_values(fld: c.Field):
    if fld.kind is bool:
        return st.booleans()
    if fld.choices:
        return st.sampled_from(fld.choices)
    if fld.kind is int:
        step = int(fld.step or 1)
        lo, hi = int(fld.minimum), int(fld.maximum)
        return st.integers(lo // step, hi // step).map(lambda k: k * step)
    if fld.kind is float:
        return st.floats(fld.minimum, fld.maximum, allow_nan=False)
    return st.text(max_size=30)


def section_values(section: c.Section):
    return st.fixed_dictionaries({}, optional={f.name: field_values(f) for f in section.fields})


configs = st.fixed_dictionaries(
    {},
    optional={
        "preset": st.sampled_from(c.PRESETS),
        "hires": section_values(c.HIRES),
        "tiles": section_values(c.TILES),
        "detail": st.lists(section_values(c.DETAIL), max_size=3),
        "qa": section_values(c.QA),
    },
)


@settings(max_examples=150, deadline=None)
@given(configs)
def test_infotext_round_trip_is_exact(raw):
    """Every field of the spec, any text a user can type: written, read as the host reads it
    (its quoting and `Key: value` parsing), pasted back — the same config."""
    cfg = c.validate(raw)
    ran = {"hires": {"status": "ok", "checkpoint": "B [bbbb]", "upscaler": "Lanczos"}}
    text = infotext.to_infotext(cfg, ran, ["a warning, with: punctuation"])
    assert infotext.from_infotext(text) == cfg
    assert "\n" not in text  # one infotext line
    assert '{"' not in text.replace('\\"', "")  # no JSON record


def test_infotext_is_short_readable_fields():
    cfg = c.validate({"hires": {"enabled": True, "denoise": 0.4, "upscaler": "R-ESRGAN 4x+"},
                      "detail": [{"model": "face_yolov8n.pt", "confidence": 0.35}]})  # fmt: skip
    ran = {"hires": {"status": "ok", "upscaler": "R-ESRGAN 4x+", "size": [1024, 1536],
                     "denoise": 0.4, "checkpoint": "other", "checkpoint_hash": "1a2b3c4d"},
           "detail 1": {"status": "ok", "model": "face_yolov8n.pt", "detections": 3,
                        "regions": 2, "confidence": 0.35, "denoise": 0.4}}  # fmt: skip
    fields = infotext.fields(cfg, ran, ["hires: the host's own Hires.fix is on"])
    assert fields["Enhance"] == "hires + detail 1"
    assert fields["Enhance hires denoise"] == "0.4"
    assert fields["Enhance hires upscaler"] == "R-ESRGAN 4x+"
    assert fields["Enhance detail 1 model"] == "face_yolov8n.pt"
    assert fields["Enhance detail 1 confidence"] == "0.35"
    assert "Enhance hires scale" not in fields  # a default: not written
    assert "1024×1536" in fields["Enhance hires"] and "other [1a2b3c4d]" in fields["Enhance hires"]
    assert "2 regions (of 3 detections)" in fields["Enhance detail 1"]
    assert fields["Enhance warnings"] == "hires: the host's own Hires.fix is on"


def test_old_json_infotext_still_pastes():
    old = json.dumps({"v": 1, "config": {"hr": {"denoising_strength": 0.5}}, "ran": {}})
    assert infotext.from_infotext(old)["hires"]["denoise"] == 0.5
    params = {"Enhance": old, "Steps": "20"}
    assert infotext.config_from_params(params)["hires"]["denoise"] == 0.5


def test_unreadable_infotext_is_a_config_error():
    with pytest.raises(c.ConfigError) as err:
        infotext.from_infotext("Steps: 20, Sampler: Euler")
    assert err.value.problems[0].path == infotext.INFOTEXT_KEY
    with pytest.raises(c.ConfigError) as err:
        infotext.from_infotext("Enhance: hires, Enhance hires denoise: lots")
    assert err.value.problems[0].path == "Enhance hires denoise"
