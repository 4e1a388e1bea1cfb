"""modules/errors.py: the host only logs exceptions from script callbacks; we record them (and
print them to stderr as the host does)."""

import sys
import traceback

REPORTS: list[str] = []


def report(message: str, *, exc_info: bool = False) -> None:
    text = message + ("\n" + traceback.format_exc() if exc_info else "")
    REPORTS.append(text)
    print(text, file=sys.stderr)


def display(e: Exception, task: str, *, full_traceback: bool = False) -> None:
    REPORTS.append(f"{task}: {type(e).__name__}: {e}")


def print_error_explanation(message: str) -> None:
    REPORTS.append(message)
