"""Stand-in of A1111 v1.10.1's `modules` package (see tests/webui/hosts/README.md)."""

import os

FLAVOUR = "a1111"
__path__.append(
    os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "common", "modules")
)
