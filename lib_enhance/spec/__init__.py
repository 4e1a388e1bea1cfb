"""The settings spec: every argument's name, default, range and aliases (`config`), presets and
their upscaler picks (`presets`), prompt tokens (`prompts`), and the infotext format (`infotext`).

The floor of the house: imports nothing else of Enhance. See docs/ARCHITECTURE.md.
"""
