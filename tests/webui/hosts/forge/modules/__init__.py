"""Stand-in of Forge main's `modules` package (see tests/webui/hosts/README.md)."""

import os

FLAVOUR = "forge"
__path__.append(
    os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "common", "modules")
)
