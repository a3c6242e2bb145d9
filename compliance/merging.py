"""Merge hooks for compliance rows the generic move cannot see or would break."""

from compliance.models import ContactPreference, KeywordReview
from profiles.models import Profile


def merge_preferences(survivor: Profile, absorbed: Profile) -> None:
    """Keep the survivor's row; take the longer pause and retire both sets of links."""
    theirs = ContactPreference.objects.filter(profile=absorbed).first()
    if theirs is None:
        return
    mine = ContactPreference.objects.filter(profile=survivor).first()
    if mine is None:
        return  # the generic merge moves their row over
    pauses = [p for p in (mine.paused_until, theirs.paused_until) if p]
    mine.paused_until = max(pauses) if pauses else None
    mine.primary_channel = mine.primary_channel or theirs.primary_channel
    mine.token_version = max(mine.token_version, theirs.token_version) + 1
    mine.save()
    theirs.delete()


def merge_reviews(survivor: Profile, absorbed: Profile) -> None:
    """Keyword reviews have no reverse accessor, so the generic move would not see them."""
    KeywordReview.objects.filter(profile=absorbed).update(profile=survivor)
