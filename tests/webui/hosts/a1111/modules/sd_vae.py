"""modules/sd_vae.py, A1111: vae_dict and reload_vae_weights (records what it loads)."""

from modules import shared

vae_dict = {}
loaded_vae_file = None
LOADS: list = []
unspecified = object()


def refresh_vae_list():
    pass


def get_loaded_vae_name():
    return None if loaded_vae_file is None else loaded_vae_file.split("/")[-1]


def reload_vae_weights(sd_model=None, vae_file=unspecified):
    global loaded_vae_file
    if vae_file is unspecified:
        name = shared.opts.data.get("sd_vae", "Automatic")
        vae_file = vae_dict.get(name)
    if loaded_vae_file == vae_file:
        return sd_model
    loaded_vae_file = vae_file
    LOADS.append(vae_file)
    return sd_model
