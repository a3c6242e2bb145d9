"""Hosted pages (placeholders until the hosted-pages work lands)."""

from django.http import Http404


def preferences(request, token):
    raise Http404


def unsubscribe(request, token):
    raise Http404


def subscribe(request):
    raise Http404


def subscribe_confirm(request, token):
    raise Http404
