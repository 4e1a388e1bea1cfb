"""The curated-folder batch: `run` (stage-major over a folder, resumable), `manifest` (what is
done, atomic writes), `report` (review.html) and `service` (one background job at a time).

Builds on `stages`; knows nothing of the WebUI. See docs/ARCHITECTURE.md.
"""
