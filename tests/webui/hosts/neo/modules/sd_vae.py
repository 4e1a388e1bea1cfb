"""modules/sd_vae.py, Forge Neo: `reload_vae_weights(vae)` takes the VAE as a required argument
(process_images pops an `sd_vae` override and passes it); VAEs are otherwise chosen through
`forge_additional_modules` like Forge main."""

vae_dict = {}
loaded_vae_file = None


def refresh_vae_list():
    pass


def get_loaded_vae_name():
    return None


def reload_vae_weights(vae: str):
    if vae in (None, "None", "Automatic"):
        return


def restore_vae_weights():
    pass
