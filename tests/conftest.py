"""Collect environment-specific test modules only where their stack is installed.

`tools/run_tests.sh` runs the suite in four venvs (core, yolo, gradio3, gradio4) and selects
each environment's tests by marker, so every module below runs in CI — in its own venv. Ignoring
them elsewhere keeps the other runs free of import-time skips.
"""

from __future__ import annotations

import importlib.util

collect_ignore: list[str] = []
if importlib.util.find_spec("gradio") is None:
    collect_ignore.append("webui/test_webui_ui_gradio.py")
    collect_ignore.append("webui/test_webui_api_routes.py")
    collect_ignore.append("webui/test_webui_browser.py")
