"""install.py with the real pip, in a venv whose packages conflict the way Forge Neo's and
Forge Classic's do (yolo venv: it lends its torch; pip reaches PyPI for ultralytics).

The host venv is built cheaply: every package of this (yolo) venv but ultralytics is made
visible to it through a `.pth` file (so torch, numpy, pillow … are "installed" without a copy,
and pip treats them as outside its environment: it cannot remove them), plus a gradio 3.43.2
that asks for pillow < 11 beside the pillow 13 it sees: `pip check` fails there as on those
hosts. Pinning the host's packages as requirements (the old install.py) cannot resolve; the new
install.py installs ultralytics and changes nothing the host has. The launch stand-in runs pip
as A1111's `launch.run_pip` does. Prints its time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.yolo

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = """
import argparse, subprocess, sys
args = argparse.Namespace(skip_install=False)
def run_pip(command, desc=None, live=False):
    result = subprocess.run(f'"{sys.executable}" -m pip {command} --prefer-binary', shell=True,
                            capture_output=True, text=True)
    print(result.stdout[-3000:], result.stderr[-3000:])
    if result.returncode != 0:
        raise RuntimeError(f"Couldn't install {desc}.\\n{result.stderr}")
    return result.stdout
"""
GRADIO_METADATA = (
    "Metadata-Version: 2.1\nName: gradio\nVersion: 3.43.2\nRequires-Dist: pillow<11.0,>=8.0\n"
)


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(cmd, capture_output=True, text=True, env={**env, **kw.pop("env", {})},
                          timeout=900, **kw)  # fmt: skip


def _host_venv(tmp: Path) -> Path:
    """The python of a venv with this venv's packages minus ultralytics, plus the conflict."""
    ours = Path(sysconfig.get_paths()["purelib"])
    farm = tmp / "host-packages"
    farm.mkdir()
    for entry in ours.iterdir():
        if entry.name == "ultralytics" or entry.name.startswith("ultralytics-8"):
            continue
        if entry.suffix == ".pth" or entry.name == "__pycache__":
            continue
        (farm / entry.name).symlink_to(entry)
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", str(venv)]).check_returncode()
    python = venv / "bin" / "python"
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run([str(python), "-c", code]).stdout.strip())
    (site / "host-packages.pth").write_text(str(farm) + "\n")
    gradio = site / "gradio-3.43.2.dist-info"
    gradio.mkdir()
    (gradio / "METADATA").write_text(GRADIO_METADATA)
    (gradio / "INSTALLER").write_text("pip\n")
    (gradio / "RECORD").write_text("")
    return python


def _installed(python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json; seen = {}\n"
        "for d in m.distributions(): seen.setdefault(d.metadata['Name'].lower(), d.version)\n"
        "print(json.dumps(seen))"
    )
    return json.loads(_run([str(python), "-c", code]).stdout)


def test_install_py_on_a_host_whose_pins_conflict(tmp_path):
    start = time.perf_counter()
    python = _host_venv(tmp_path)
    check = _run([str(python), "-m", "pip", "check"])
    assert check.returncode != 0 and "pillow" in check.stdout.lower()  # inconsistent, as Neo's
    before = _installed(python)
    assert "ultralytics" not in before and "torch" in before and before["gradio"] == "3.43.2"

    # the old way (the host's packages as requirements) cannot resolve here
    old = _run([str(python), "-m", "pip", "install", "--dry-run", "ultralytics>=8.3.0,<9",
                f"gradio=={before['gradio']}", f"pillow=={before['pillow']}"])  # fmt: skip
    if "Could not find a version" in old.stderr or "NewConnectionError" in old.stderr:
        pytest.skip(f"PyPI is not reachable from here: {old.stderr[-300:]}")
    assert old.returncode != 0 and "conflict" in old.stderr.lower()

    (tmp_path / "launch.py").write_text(LAUNCH)
    result = _run([str(python), str(ROOT / "install.py")], cwd=tmp_path,
                  env={"PYTHONPATH": str(tmp_path)})  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    after = _installed(python)
    assert after.get("ultralytics", "").startswith("8."), result.stdout + result.stderr
    changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
    assert changed == {}  # nothing the host had was touched: not torch, not pillow, not numpy
    new = set(after) - set(before)
    assert "ultralytics" in new and not new & {"torch", "torchvision", "pillow", "numpy"}
    imported = _run(
        [str(python), "-c", "import ultralytics; print(ultralytics.__version__)"],
        env={"YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(tmp_path / "cfg")},
    )
    assert imported.returncode == 0, imported.stderr[-2000:]
    print(f"\ninstall.py on a conflicting host: {time.perf_counter() - start:.1f} s "
          f"(new: {sorted(new)})")  # fmt: skip
