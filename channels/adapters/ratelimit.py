"""Per-sender pacing in the shared cache (Redis across machines, else per process).

Time is cut into slots of max(1, 1/rate) seconds, each allowing max(1, floor(rate)) sends:
3/s gives three per second, 0.5/s one every two seconds. A sender over its rate waits for
the next slot; past `max_wait` the send is retried later instead of tying up a worker.
"""

import math
import time

from django.core.cache import cache

from channels.adapters.base import DeliveryError


def _slot(rate: float) -> tuple[float, int]:
    return max(1.0, 1.0 / rate), max(1, math.floor(rate))


def acquire(sender: str, rate: float, *, max_wait: float = 5.0) -> None:
    if rate <= 0:
        return
    length, capacity = _slot(rate)
    deadline = time.monotonic() + max_wait
    while True:
        now = time.time()
        index = math.floor(now / length)
        key = f"channels:rate:{sender}:{index}"
        cache.add(key, 0, timeout=math.ceil(length) * 2 + 1)
        try:
            if cache.incr(key) <= capacity:
                return
        except ValueError:  # the slot's key expired between add and incr
            continue
        wake = (index + 1) * length - now
        if time.monotonic() + wake > deadline:
            raise DeliveryError("rate_limited", f"over {rate}/s for {sender}", permanent=False)
        time.sleep(wake)
