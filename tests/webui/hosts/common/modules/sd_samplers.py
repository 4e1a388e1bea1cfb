"""modules/sd_samplers.py: SamplerData(name, constructor, aliases, options)."""

from collections import namedtuple

SamplerData = namedtuple("SamplerData", ["name", "constructor", "aliases", "options"])

all_samplers = [
    SamplerData("DPM++ 2M", None, ["k_dpmpp_2m"], {}),
    SamplerData("Euler a", None, ["k_euler_a"], {}),
    SamplerData("Euler", None, ["k_euler"], {}),
]
all_samplers_map = {x.name: x for x in all_samplers}
samplers = all_samplers
samplers_for_img2img = all_samplers
samplers_map = {}
for _s in all_samplers:
    samplers_map[_s.name.lower()] = _s.name
    for _a in _s.aliases:
        samplers_map[_a.lower()] = _s.name


def find_sampler_config(name):
    return all_samplers_map.get(name) or all_samplers_map.get(samplers_map.get(str(name).lower()))
