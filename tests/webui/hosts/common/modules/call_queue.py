"""modules/call_queue.py: the generation lock (a FIFOLock in the host; not re-entrant)."""

import threading

queue_lock = threading.Lock()
