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
    parser.add_argument(
        "--enhance-queue",
        type=str,
        default=None,
        metavar="redis://HOST:PORT/DB",
        help="Enhance: make this server a worker of the folder-batch queue in that Redis "
        "(also read from ENHANCE_QUEUE); a folder batch started here runs on every worker",
    )
    parser.add_argument(
        "--enhance-queue-claim-after",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="Enhance: a queue worker silent this long loses its unfinished items to the others",
    )
    parser.add_argument(
        "--enhance-queue-worker-id",
        type=str,
        default=None,
        metavar="NAME",
        help="Enhance: this server's name in the queue (default: host name:port)",
    )
