"""Print one closing line for all pytest runs: 'N passed, N failed, N skipped'.

Each environment runs its own pytest; this adds them up so the total is one line a person (and
CI) can read. Exits 1 if any test failed or errored, or if no test ran at all.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def totals(paths: list[str]) -> dict[str, int]:
    out = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for path in paths:
        root = ET.parse(path).getroot()
        suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
        for suite in suites:
            for key in out:
                out[key] += int(suite.get(key, 0))
    return out


def main(paths: list[str]) -> int:
    t = totals(paths)
    failed = t["failures"] + t["errors"]
    passed = t["tests"] - failed - t["skipped"]
    print(f"{passed} passed, {failed} failed, {t['skipped']} skipped")
    return 1 if failed or t["tests"] == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
