"""The curated-folder batch: `run` (stage-major over a folder, resumable), `manifest` (what is
done, atomic writes), `report` (review.html) and `service` (one background job at a time).
Over several WebUIs, through Redis: `items` (what travels: PNG and checked JSON), `queue` (the
Redis operations), `worker` (takes and runs items) and `coordinator` (the starting server).

Builds on `stages`; knows nothing of the WebUI. See docs/ARCHITECTURE.md.
"""
