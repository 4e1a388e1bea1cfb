"""What differs between the five hosts, decided by what each has: checkpoint and VAE swaps with
the user's model restored, a missing capability (one console line, a clear failure, the rest
working), flags a fork dropped."""

from __future__ import annotations

import pytest
from PIL import Image

VAE = "vae-ft-mse.safetensors"
HIRES = {"hires": {"enabled": True, "upscaler": "Lanczos", "scale": 2.0, "denoise": 0.35,
                   "checkpoint": "other.safetensors", "vae": VAE}}  # fmt: skip


def stage(processed, name: str) -> str:
    """The line Enhance wrote into the first image's infotext for one stage."""
    from modules import infotext_utils

    from lib_enhance.spec import infotext

    params = infotext_utils.parse_generation_parameters(processed.infotexts[0])
    return infotext.summary(params)["stages"][name]


def status(processed, name: str) -> str:
    from lib_enhance.spec import infotext

    return infotext.status_of(stage(processed, name))


def loaded_vae(webui) -> str | None:
    """The VAE the loaded model runs with, as each model manager keeps it."""
    if webui.forge:
        modules = webui.sd_models.model_data.sd_model.forge_modules
        return modules[0].rsplit("/", 1)[-1] if modules else None
    from modules import sd_vae

    return sd_vae.get_loaded_vae_name()


def test_checkpoint_and_vae_swap_then_the_users_come_back(webui):
    base, other = webui.title("base.safetensors"), webui.title("other.safetensors")
    opts_before = {k: webui.shared.opts.data.get(k) for k in
                   ("sd_model_checkpoint", "sd_vae", "forge_additional_modules")}  # fmt: skip
    _p, processed = webui.txt2img([True, HIRES], batch_size=2)
    assert webui.errors.REPORTS == []
    assert status(processed, "hires") == "ok"
    (inner,) = webui.inner_calls()  # both images in one call
    assert inner["batch"] == 2 and inner["checkpoint"] == other
    vae = inner["vae"]
    assert ((vae or [""])[0] if webui.forge else vae).endswith(VAE)
    assert webui.loaded_title() == base and loaded_vae(webui) is None
    assert {k: webui.shared.opts.data.get(k) for k in opts_before} == opts_before
    if webui.forge:  # never written to config.json, whatever the signature
        from modules_forge import main_entry

        assert main_entry.CALLS and all(save is False for _, _, save, _ in main_entry.CALLS)


def test_an_unknown_vae_is_refused_before_anything_runs(webui, caplog):
    config = {"hires": {**HIRES["hires"], "vae": "nope.safetensors"}}
    _p, processed = webui.txt2img([True, config])
    assert "hires.vae" in caplog.text and "nope.safetensors" in caplog.text
    assert webui.inner_calls() == [] and processed.images[0].size == (64, 48)
    assert webui.loaded_title() == webui.title("base.safetensors") and loaded_vae(webui) is None


def test_without_a_way_to_change_checkpoints_only_those_passes_fail(webui, monkeypatch, caplog):
    """What Enhance sees lacks both routes: one console line, a failure that says why, and
    everything else runs (the host keeps its own loaders)."""
    import types

    from lib_enhance.webui import capabilities

    registry = {k: getattr(webui.sd_models, k) for k in ("get_closet_checkpoint_match",
                                                          "checkpoints_list")}  # fmt: skip
    monkeypatch.setattr(capabilities, "sd_models", types.SimpleNamespace(**registry))
    caplog.set_level("WARNING", logger="enhance")
    _p, processed = webui.txt2img([True, HIRES])
    webui.txt2img([True, HIRES])
    hires = stage(processed, "hires")
    assert status(processed, "hires") == "failed" and "no way to change the checkpoint" in hires
    said = [r for r in caplog.records if "neither sd_models.reload_model_weights" in r.message]
    assert len(said) == 1
    assert webui.loaded_title() == webui.title("base.safetensors")
    plain = {"hires": {k: v for k, v in HIRES["hires"].items() if k not in ("checkpoint", "vae")}}
    _p, processed = webui.txt2img([True, plain])
    assert status(processed, "hires") == "ok" and processed.images[0].size == (128, 96)


def test_flags_a_fork_dropped_are_read_as_unset(webui):
    from lib_enhance.webui import capabilities, host_adapter

    for name in webui.host.dropped_cmd_opts:
        assert not hasattr(webui.shared.cmd_opts, name)
        assert capabilities.cmd_opt(name, "unset") == "unset"
    assert capabilities.detector_device() == "cpu"
    assert host_adapter.detector_registry() is not None
    assert "vaes" in host_adapter.models()


@pytest.mark.parametrize(
    ("flags", "device"),
    [({}, "cuda:0"), ({"lowvram": True}, "cpu"), ({"use_cpu": ["all"]}, "cpu"),
     ({"use_cpu": ["adetailer"]}, "cpu"), ({"use_cpu": ["sd"]}, "cuda:0")],
)  # fmt: skip
def test_detectors_follow_the_hosts_device_and_flags(webui, monkeypatch, flags, device):
    import sys
    import types

    from lib_enhance.webui import capabilities

    monkeypatch.setitem(sys.modules, "modules.devices", types.SimpleNamespace(device="cuda:0"))
    for name, value in flags.items():
        monkeypatch.setattr(webui.shared.cmd_opts, name, value, raising=False)
    assert capabilities.detector_device() == device


def test_a_missing_package_is_named_with_what_still_works(webui, monkeypatch, caplog):
    import importlib.util

    from lib_enhance.webui import capabilities

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ultralytics" else real(name)
    )
    caplog.set_level("WARNING", logger="enhance")
    text = capabilities.missing_notice()
    assert "`ultralytics`" in text and "YOLO detector models" in text and "hires, tiles" in text
    assert capabilities.missing_notice() == text
    assert sum("Not installed" in r.message for r in caplog.records) == 1
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    assert capabilities.missing_notice() == ""


def test_img2img_on_every_host(webui):
    config = {"hires": {"enabled": True, "upscaler": "Lanczos", "scale": 2.0, "denoise": 0.3}}
    _p, processed = webui.img2img([True, config], Image.new("RGB", (40, 32), (10, 20, 30)))
    assert webui.errors.REPORTS == [] and processed.images[0].size == (80, 64)
