"""modules/sd_vae.py, Forge: the loaders are no-ops (VAEs go through forge_additional_modules)."""

vae_dict = {}
unspecified = object()


def refresh_vae_list():
    pass


def reload_vae_weights(sd_model=None, vae_file=unspecified):
    pass


def load_vae(*args, **kwargs):
    pass
