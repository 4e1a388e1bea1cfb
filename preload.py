"""Command-line flags of Enhance (read by the host before it parses arguments)."""

from __future__ import annotations

import argparse


def preload(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--enhance-models-dir",
        type=str,
        default=None,
        help="Enhance: folder of detector models (default: models/enhance)",
    )
    parser.add_argument(
        "--enhance-allow-api-paths",
        action="store_true",
        default=False,
        help="Enhance: allow API requests to name files and folders on this server",
    )
