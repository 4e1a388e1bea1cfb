"""The stages and their runner: `context` (what a stage may use), `hires`, `tiled`, `detail`
(one stage function each) and `pipeline` (stage order, checkpoint swaps, failures, QA).

Runs over any `host.Host`; never imports `batch` or `webui`. See docs/ARCHITECTURE.md.
"""
