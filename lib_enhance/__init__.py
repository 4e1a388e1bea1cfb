"""Enhance: hires, tiles, detail passes and QA for A1111/Forge. The map: docs/ARCHITECTURE.md."""
