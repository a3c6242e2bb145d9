"""Tracked short links: /l/<code> redirects only to URLs we put in our own messages."""

from django.http import Http404, HttpResponseRedirect
from django.views.decorators.http import require_safe

from channels.services import link_follow


@require_safe
def link_redirect(request, code: str):
    url = link_follow(code=code)
    if url is None:
        raise Http404("unknown link")
    return HttpResponseRedirect(url)
