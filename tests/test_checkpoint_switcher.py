"""Checkpoint swaps: loaded once per scope, restored at its end, restored after a failed load."""

from __future__ import annotations

import pytest

from lib_enhance.host import CheckpointSwitcher, HostError


class Loader:
    def __init__(self, fail: set[str] = frozenset()):
        self.loaded: list[tuple[str, str]] = []
        self.fail = fail

    def __call__(self, checkpoint: str, vae: str) -> None:
        if checkpoint in self.fail:
            raise OSError(f"cannot read {checkpoint}")
        self.loaded.append((checkpoint, vae))


def test_same_means_no_load_at_all():
    loader = Loader()
    switcher = CheckpointSwitcher(loader)
    for name in ("", "same", "Same", None, "None"):
        with switcher.use(name):
            pass
    assert loader.loaded == []


def test_use_loads_then_restores_the_users_checkpoint():
    loader = Loader()
    switcher = CheckpointSwitcher(loader)
    with switcher.use("B", "vae-x"):
        assert switcher.active == ("B", "vae-x")
    assert loader.loaded == [("B", "vae-x"), ("", "")]
    assert switcher.active == ("", "")


def test_nested_use_of_the_active_checkpoint_costs_nothing():
    loader = Loader()
    switcher = CheckpointSwitcher(loader)
    with switcher.use("B"), switcher.use("B"):
        pass
    assert loader.loaded == [("B", ""), ("", "")]


def test_scope_swaps_b_to_c_directly_and_restores_once():
    loader = Loader()
    switcher = CheckpointSwitcher(loader)
    with switcher.scope():
        for name in ("B", "B", "C", "same"):
            with switcher.use(name):
                pass
        assert switcher.active == ("", "")  # "same" stage ran on the user's checkpoint
        with switcher.use("C"):
            pass
    assert loader.loaded == [("B", ""), ("C", ""), ("", ""), ("C", ""), ("", "")]
    assert switcher.loads == 5


def test_scope_restores_when_the_block_raises():
    loader = Loader()
    switcher = CheckpointSwitcher(loader)
    with pytest.raises(KeyError), switcher.scope(), switcher.use("B"):
        raise KeyError("boom")
    assert switcher.active == ("", "")
    assert loader.loaded[-1] == ("", "")


def test_failed_load_restores_the_user_checkpoint_and_raises_host_error():
    loader = Loader(fail={"broken"})
    switcher = CheckpointSwitcher(loader)
    with pytest.raises(HostError, match="broken"), switcher.use("broken"):
        pytest.fail("the block must not run on a checkpoint that did not load")
    assert switcher.active == ("", "")
    assert loader.loaded == [("", "")]
    with switcher.use("B"):  # and the switcher still works afterwards
        pass
    assert loader.loaded[-2:] == [("B", ""), ("", "")]
