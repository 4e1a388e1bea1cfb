"""Stand-in of Forge Classic's `modules` package (see ../README.md): A1111's layout and model
API, so the A1111 stand-in's modules are used except where this folder replaces one."""

import os

FLAVOUR = "classic"
_HOSTS = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
__path__ += [os.path.join(_HOSTS, "a1111", "modules"), os.path.join(_HOSTS, "common", "modules")]
