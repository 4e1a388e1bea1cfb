"""The checkpoint registry both hosts' `modules/sd_models.py` share unchanged (HOST_API §3.1/§3.2):
the lists, `checkpoint_tiles`, `list_models`, `get_closet_checkpoint_match`, `select_checkpoint`.
Each flavour's sd_models re-exports these names; the dicts are the same objects in both places.
"""

from modules import shared

checkpoints_list = {}
checkpoint_aliases = {}
checkpoint_alisases = checkpoint_aliases
checkpoints_loaded = {}  # A1111 only (its state-dict cache); Forge has none


def checkpoint_tiles(use_short=False):
    return [x.short_title if use_short else x.title for x in checkpoints_list.values()]


def list_models():
    pass


def get_closet_checkpoint_match(search_string):
    if not search_string:
        return None
    info = checkpoint_aliases.get(search_string)
    if info is not None:
        return info
    found = sorted(
        [info for info in checkpoints_list.values() if search_string in info.title],
        key=lambda x: len(x.title),
    )
    if found:
        return found[0]
    search_string_without_checksum = (
        search_string.split(" [")[0] if " [" in search_string else search_string
    )
    found = sorted(
        [
            info
            for info in checkpoints_list.values()
            if search_string_without_checksum in info.title
        ],
        key=lambda x: len(x.title),
    )
    return found[0] if found else None


def select_checkpoint():
    model_checkpoint = shared.opts.sd_model_checkpoint
    info = checkpoint_aliases.get(model_checkpoint)
    if info is not None:
        return info
    return next(iter(checkpoints_list.values()))
