"""modules/upscaler.py: Upscaler.upscale as in the host (targets floored to multiples of 8)."""

from modules import modelloader_log, shared
from PIL import Image

LANCZOS = Image.Resampling.LANCZOS
NEAREST = Image.Resampling.NEAREST


class Upscaler:
    name = None
    model_path = None
    model_name = None
    model_url = None
    enable = True
    filter = None
    model = None
    user_path = None
    scalers = []  # noqa: RUF012 - host code
    tile = True

    def __init__(self, create_dirs=False):
        self.mod_pad_h = None
        self.tile_size = 192
        self.tile_pad = 8
        self.device = "cpu"
        self.scale = 1

    def do_upscale(self, img, selected_model: str):
        return img

    def upscale(self, img, scale, selected_model: str | None = None):
        self.scale = scale
        dest_w = int((img.width * scale) // 8 * 8)
        dest_h = int((img.height * scale) // 8 * 8)
        for _ in range(3):
            if img.width >= dest_w and img.height >= dest_h:
                break
            if shared.state.interrupted:
                break
            shape = (img.width, img.height)
            img = self.do_upscale(img, selected_model)
            if shape == (img.width, img.height):
                break
        if img.width != dest_w or img.height != dest_h:
            img = img.resize((int(dest_w), int(dest_h)), resample=LANCZOS)
        modelloader_log.CALLS.append((self.name, selected_model, img.size))
        return img

    def load_model(self, path: str):
        pass

    def find_models(self, ext_filter=None) -> list:
        return []


class UpscalerData:
    name = None
    data_path = None
    scale: int = 4
    scaler: Upscaler = None
    model: None

    def __init__(
        self,
        name: str,
        path: str,
        upscaler: Upscaler = None,
        scale: int = 4,
        model=None,
        sha256: str | None = None,
    ):
        self.name = name
        self.data_path = path
        self.local_data_path = path
        self.scaler = upscaler
        self.scale = scale
        self.model = model
        self.sha256 = sha256


class UpscalerNone(Upscaler):
    name = "None"


class UpscalerLanczos(Upscaler):
    name = "Lanczos"

    def do_upscale(self, img, selected_model=None):
        return img.resize((int(img.width * self.scale), int(img.height * self.scale)), LANCZOS)


class UpscalerNearest(Upscaler):
    name = "Nearest"

    def do_upscale(self, img, selected_model=None):
        return img.resize((int(img.width * self.scale), int(img.height * self.scale)), NEAREST)


class FakeESRGAN(Upscaler):
    """A 4x model: nearest ×4, then the green channel halved (visibly 'this upscaler')."""

    name = "ESRGAN"

    def do_upscale(self, img, selected_model=None):
        out = img.convert("RGB").resize((img.width * 4, img.height * 4), NEAREST)
        r, g, b = out.split()
        return Image.merge("RGB", (r, g.point(lambda v: v // 2), b))


def default_upscalers():
    """What `modelloader.load_upscalers` gives: None, Lanczos, Nearest first, then models."""
    return [
        UpscalerData("None", None, UpscalerNone(), 1),
        UpscalerData("Lanczos", None, UpscalerLanczos(), 4),
        UpscalerData("Nearest", None, UpscalerNearest(), 4),
        UpscalerData("R-ESRGAN 4x+", "models/RealESRGAN/x4.pth", FakeESRGAN(), 4),
        UpscalerData("4x-UltraSharp", "models/ESRGAN/4x-UltraSharp.pth", FakeESRGAN(), 4),
        # Listed before their files are downloaded: the path is the download URL, or none.
        UpscalerData("LDSR", None, FakeESRGAN(), 4),
        UpscalerData(
            "DAT x4", "https://github.com/n0kovo/dat_upscaler_models/DAT_x4.pth", FakeESRGAN(), 4
        ),
    ]
