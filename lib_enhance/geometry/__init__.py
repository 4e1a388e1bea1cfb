"""Pixel geometry on numpy arrays: tile plans and blending (`tiles`), crop boxes and feathered
paste-back (`regions`), detections (`detection`) shaped into inpaint masks (`masks`).

numpy and PIL only; imports nothing of Enhance above `spec`. See docs/ARCHITECTURE.md.
"""
