"""Stand-in of Forge Neo's `modules` package (see ../README.md): Forge's layout and model
manager, so the Forge stand-in's modules are used except where this folder replaces one."""

import os

FLAVOUR = "neo"
_HOSTS = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
__path__ += [os.path.join(_HOSTS, "forge", "modules"), os.path.join(_HOSTS, "common", "modules")]
