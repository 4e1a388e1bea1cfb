"""launch.py stand-in: what install.py may use (records pip commands instead of running pip)."""

import argparse
import importlib.metadata
import importlib.util

args = argparse.Namespace(skip_install=False)
PIP: list[tuple[str, str]] = []


def is_installed(package):
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        return importlib.util.find_spec(package) is not None


def run_pip(command, desc=None, live=False):
    if args.skip_install:
        return None
    PIP.append((command, desc))
    return ""
