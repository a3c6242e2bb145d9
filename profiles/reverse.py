"""reverse() for a one-argument URL, with the pattern resolved once per process.

Rendering a batch of messages makes several signed links each (preferences, unsubscribe,
short links); Django's reverse() re-walks the resolver every time.
"""

from functools import lru_cache

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import get_script_prefix, get_urlconf, reverse

SLOT = "tandem-slot"


@lru_cache(maxsize=32)
def _around(name: str, prefix: str, urlconf) -> tuple[str, str]:
    before, _, after = reverse(name, args=[SLOT]).partition(SLOT)
    return before, after


def path_with(name: str, value: str) -> str:
    """reverse(name, args=[value]) for a URL-safe value."""
    before, after = _around(name, get_script_prefix(), get_urlconf())
    return f"{before}{value}{after}"


@receiver(setting_changed)
def _forget_paths(**kwargs) -> None:
    _around.cache_clear()
