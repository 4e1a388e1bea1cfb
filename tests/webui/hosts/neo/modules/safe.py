"""modules/safe.py, Forge Neo: the remains of the checker (see `_safe_minimal`)."""

from modules._safe_minimal import *  # noqa: F403 - the host's names
