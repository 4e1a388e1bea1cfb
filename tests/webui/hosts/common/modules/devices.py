"""modules/devices.py: the device the host runs on (a CPU here: no torch in the test venvs) and
`torch_gc`, which hosts call to give cached memory back (recorded in GC)."""

device = "cpu"
GC: list[str] = []


def torch_gc():
    GC.append("torch_gc")
