"""Prompt templates: [PROMPT], [SEP] and [SKIP]."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib_enhance.spec import prompts


@pytest.mark.parametrize(
    ("template", "original", "expected"),
    [
        ("", "a cat", "a cat"),
        ("   ", "a cat", "a cat"),
        ("detailed face", "a cat", "detailed face"),
        ("[PROMPT], sharp eyes", "a cat", "a cat, sharp eyes"),
        ("[prompt], sharp", "a cat", "a cat, sharp"),
        ("[PROMPT] and [PROMPT]", "x", "x and x"),
        ("[PROMPT], sharp eyes", "", "sharp eyes"),
        ("best, [PROMPT], sharp", "", "best, sharp"),
        (" [PROMPT] , ", "a cat", "a cat"),
    ],
)
def test_resolve(template: str, original: str, expected: str) -> None:
    assert prompts.resolve(template, original) == expected


@given(st.text())
def test_resolve_of_plain_prompt_keeps_it(original: str) -> None:
    assert prompts.resolve("", original) == original
    assert prompts.resolve("[PROMPT]", original) == prompts.tidy(original)


def test_resolve_does_not_expand_twice() -> None:
    assert prompts.resolve("[PROMPT], x", "uses [PROMPT] literally") == (
        "uses [PROMPT] literally, x"
    )


def test_split_regions_by_order() -> None:
    got = prompts.split_regions("left face [SEP] right face", "cat", 3)
    assert got == ["left face", "right face", "right face"]


def test_split_regions_skip_and_prompt() -> None:
    got = prompts.split_regions("[PROMPT], face[SEP][SKIP][SEP] [SEP]hand", "cat", 5)
    assert got == ["cat, face", None, "cat", "hand", "hand"]


def test_split_regions_empty_template_and_counts() -> None:
    assert prompts.split_regions("", "cat", 2) == ["cat", "cat"]
    assert prompts.split_regions("a [sep] b", "cat", 1) == ["a"]
    assert prompts.split_regions("a [SEP] [skip]", "cat", 4) == ["a", None, None, None]
    assert prompts.split_regions("a", "cat", 0) == []
    with pytest.raises(ValueError):
        prompts.split_regions("a", "cat", -1)


@given(st.lists(st.sampled_from(["a", "b c", "[SKIP]", "", "[PROMPT] d"]), min_size=1),
       st.integers(0, 8))  # fmt: skip
def test_split_regions_length_and_skips(parts: list[str], count: int) -> None:
    got = prompts.split_regions(" [SEP] ".join(parts), "orig", count)
    assert len(got) == count
    for i, value in enumerate(got):
        part = parts[min(i, len(parts) - 1)]
        assert (value is None) == (part == "[SKIP]")
        if value is not None:
            assert value == prompts.resolve(part, "orig")
