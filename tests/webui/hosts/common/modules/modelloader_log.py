"""Stand-in bookkeeping (not a host module): every Upscaler.upscale call."""

CALLS: list = []
