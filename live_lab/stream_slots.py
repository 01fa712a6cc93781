"""How many run pages (event streams) each learner has open in this web process.

Each open stream costs the process a little CPU several times a second; two hundred streams
opened by one learner on his own run took it to 94 % CPU and every other page to seconds
(issue 13). A learner gets LAB_MAX_STREAMS_PER_LEARNER at once; more are refused with a
message. Counted per process: with several web processes the bound is per process too.
"""

import threading
from collections import Counter

from django.conf import settings

open_streams: Counter = Counter()
lock = threading.Lock()


def take_stream_slot(user_id: int) -> bool:
    """True, and the slot is the caller's until release_stream_slot(); False at the limit."""
    with lock:
        if open_streams[user_id] >= settings.LAB_MAX_STREAMS_PER_LEARNER:
            return False
        open_streams[user_id] += 1
        return True


def release_stream_slot(user_id: int) -> None:
    with lock:
        open_streams[user_id] -= 1
        if open_streams[user_id] <= 0:
            del open_streams[user_id]
