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


def get_sampler_and_scheduler(sampler_name, scheduler_name, *, convert_automatic=True):
    """A1111 1.10 / Forge: "Euler a Karras" → ("Euler a", "Karras"); unknown → the first."""
    from modules import sd_schedulers

    default_sampler = samplers[0]
    found_scheduler = sd_schedulers.schedulers_map.get(scheduler_name, sd_schedulers.schedulers[0])
    name = sampler_name or default_sampler.name
    for scheduler in sd_schedulers.schedulers:
        name_options = [scheduler.label, scheduler.name, *(scheduler.aliases or [])]
        for name_option in name_options:
            if name.endswith(" " + name_option):
                found_scheduler = scheduler
                name = name[0 : -(len(name_option) + 1)]
                break
    sampler = all_samplers_map.get(name, default_sampler)
    if convert_automatic and sampler.options.get("scheduler", None) == found_scheduler.name:
        found_scheduler = sd_schedulers.schedulers[0]
    return sampler.name, found_scheduler.label
