"""Prompt templates of a pass: [PROMPT] for the image's own prompt, [SEP] and [SKIP] per region.

An empty template means "the image's prompt", so a pass with no prompt of its own keeps the
style it was made with. `[PROMPT]` splices that prompt into the user's text ("[PROMPT], sharp
eyes"). For detail passes, `[SEP]` gives each region (in the pass's sort order) its own prompt
and `[SKIP]` leaves a region alone. Tokens are case-insensitive.

Resolution is plain text substitution, done once: wildcards and styles are the host's, and we
never apply them ourselves (peers applied styles twice).
"""

from __future__ import annotations

import re

PROMPT = "[PROMPT]"
SEP = "[SEP]"
SKIP = "[SKIP]"

_PROMPT_TOKEN = re.compile(re.escape(PROMPT), re.IGNORECASE)
_SEP_TOKEN = re.compile(r"\s*" + re.escape(SEP) + r"\s*", re.IGNORECASE)
_SKIP_TOKEN = re.compile(re.escape(SKIP), re.IGNORECASE)
_EMPTY_ITEMS = re.compile(r",(\s*,)+")
_EDGES = " \t\r\n,"


def tidy(text: str) -> str:
    """Drop the empty list items a substitution can leave: ", ," and commas at either end.

    "[PROMPT], sharp eyes" with an empty prompt becomes "sharp eyes", not ", sharp eyes".
    """
    return _EMPTY_ITEMS.sub(",", text).strip(_EDGES)


def resolve(template: str, original: str) -> str:
    """The prompt a pass uses: `original` for an empty template, else the template with every
    [PROMPT] replaced by `original`, tidied."""
    if not template.strip(_EDGES):
        return original
    if not _PROMPT_TOKEN.search(template):
        return template.strip()
    return tidy(_PROMPT_TOKEN.sub(lambda _: original, template))


def split_regions(template: str, original: str, count: int) -> list[str | None]:
    """One prompt per region: the template's [SEP]-separated parts in order.

    Region i gets part i; regions beyond the last part reuse the last part. A part that holds
    [SKIP] gives None (leave that region alone). Each part is resolved like `resolve`, so an
    empty part means the image's prompt.
    """
    if count < 0:
        raise ValueError(f"region count must be ≥ 0, got {count}")
    parts = _SEP_TOKEN.split(template)
    resolved = [None if _SKIP_TOKEN.search(p) else resolve(p, original) for p in parts]
    return [resolved[min(i, len(resolved) - 1)] for i in range(count)]
