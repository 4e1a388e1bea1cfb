"""Our code stays valid on Python 3.10–3.13, the range the hosts run (A1111 3.10, Forge
Classic / Neo 3.11, Neo's 2026 README 3.13).

- Syntax: every file parses with the 3.10 grammar (`ast.parse(feature_version=…)`), and ruff
  checks with `target-version = "py310"` (its version-syntax errors: `except*`, `type X = …`, …).
- Library: no import of a standard module removed in 3.12 or 3.13 (PEP 594, distutils).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOPS = ("lib_enhance", "scripts", "tests", "bench", "tools")
SOURCES = [
    *sorted(p for top in TOPS for p in (REPO / top).rglob("*.py")),
    REPO / "install.py",
    REPO / "preload.py",
]

REMOVED = {
    "distutils", "imp", "asynchat", "asyncore", "smtpd",  # 3.12
    "aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr", "mailcap", "msilib", "nis",
    "nntplib", "ossaudiodev", "pipes", "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib",
    "lib2to3",  # 3.13
}  # fmt: skip


def test_ruff_checks_against_python_3_10():
    config = (REPO / "pyproject.toml").read_text()  # (tomllib is 3.11+)
    assert re.search(r'^target-version = "py310"$', config, re.M)
    assert re.search(r'^requires-python = ">=3.10"$', config, re.M)


def test_every_file_parses_with_the_3_10_grammar_and_imports_nothing_removed():
    offenders = {}
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf8"), str(path), feature_version=(3, 10))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
        if imported & REMOVED:
            offenders[str(path.relative_to(REPO))] = sorted(imported & REMOVED)
    assert len(SOURCES) > 100 and offenders == {}
