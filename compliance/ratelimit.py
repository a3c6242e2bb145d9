"""A fixed-window request limit per client IP and page for the hosted pages.

Counts live in the default cache (Redis when REDIS_URL is set, so every web process
shares them; per process otherwise). HOSTED_PAGES_RATE_PER_MINUTE = 0 turns it off.
The client is REMOTE_ADDR: behind a proxy, the proxy must set it to the real client.
"""

import time
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from compliance.disclosures import brand

WINDOW_SECONDS = 60


def seconds_left(now: float | None = None) -> int:
    now = time.time() if now is None else now
    return WINDOW_SECONDS - int(now) % WINDOW_SECONDS


def is_allowed(*, page: str, client: str) -> bool:
    """Count this request; False once the client passed the page's limit this minute."""
    limit = settings.HOSTED_PAGES_RATE_PER_MINUTE
    if limit <= 0:
        return True
    window = int(time.time()) // WINDOW_SECONDS
    key = f"hosted-pages:{page}:{client}:{window}"
    cache.add(key, 0, timeout=WINDOW_SECONDS + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=WINDOW_SECONDS + 5)
        count = 1
    return count <= limit


def too_many_requests(request: HttpRequest) -> HttpResponse:
    retry_after = seconds_left()
    body = render_to_string(
        "compliance/rate_limited.html",
        {"brand": brand(), "retry_after": retry_after},
        request=request,
    )
    response = HttpResponse(body, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def rate_limited(page: str, *, exempt: Callable[[HttpRequest], bool] | None = None):
    """View decorator: 429 with a friendly page and Retry-After past the limit."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if exempt and exempt(request):
                return view(request, *args, **kwargs)
            client = request.META.get("REMOTE_ADDR", "") or "unknown"
            if not is_allowed(page=page, client=client):
                return too_many_requests(request)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
