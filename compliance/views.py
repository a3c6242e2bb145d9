"""Hosted pages for customers: preference centre, one-click unsubscribe, sign-up, confirm.

Thin: each view reads its signed link, validates a form and calls a service in
compliance.preferences or compliance.signup. A bad link is a 404 that changes nothing.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.timezone import now
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from compliance import forms, preferences, signup, tokens
from compliance.disclosures import SMS_MARKETING, SMS_NEW_NUMBER, brand, disclosure_wording
from compliance.models import Topic
from compliance.ratelimit import rate_limited
from profiles.identity import IdentityError


def request_evidence(request: HttpRequest, page: str) -> dict[str, str]:
    return {
        "ip": request.META.get("REMOTE_ADDR", ""),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:512],
        "page": page,
    }


def _render(request, template: str, context: dict | None = None, status: int = 200):
    return render(request, template, {"brand": brand(), **(context or {})}, status=status)


def _invalid_link(request: HttpRequest) -> HttpResponse:
    return _render(request, "compliance/invalid_link.html", status=404)


# --- Preference centre --------------------------------------------------------------------------


@rate_limited("preferences")
@require_http_methods(["GET", "POST"])
def preferences_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        profile = tokens.read_token(tokens.PREFERENCES, token).profile
    except tokens.InvalidToken:
        return _invalid_link(request)
    context = {"phone_form": forms.PhoneForm(), "pause_form": forms.PauseForm()}
    if request.method == "POST":
        action = request.POST.get("action", "")
        handler = PREFERENCE_ACTIONS.get(action)
        if handler is None:
            return _render(request, "compliance/bad_request.html", status=400)
        changes = handler(request, profile, context)
        if changes is not None:
            for change in changes or ["Nothing changed."]:
                messages.success(request, change)
            return redirect(request.path)
    return _preferences_render(request, profile, context)


def _preferences_render(request, profile, context: dict) -> HttpResponse:
    state = preferences.preferences_read(profile=profile)
    context.setdefault("form", forms.PreferencesForm(state=state))
    preference = state.preference
    paused = bool(preference and preference.paused_until and preference.paused_until > now())
    return _render(
        request,
        "compliance/preferences.html",
        {
            "profile": profile,
            "preference": preference,
            "paused": paused,
            "pause_weeks": preferences.PAUSE_WEEKS,
            "sms_disclosure": disclosure_wording(SMS_MARKETING),
            "new_number_disclosure": disclosure_wording(SMS_NEW_NUMBER),
            **context,
        },
    )


def _save(request, profile, context) -> list[str] | None:
    state = preferences.preferences_read(profile=profile)
    form = forms.PreferencesForm(request.POST, state=state)
    if not form.is_valid():
        context["form"] = form
        return None
    channels, topics, primary = form.changes()
    return preferences.preferences_update(
        profile=profile,
        channels=channels,
        topics=topics,
        primary_channel=primary,
        evidence=request_evidence(request, "preferences"),
    )


def _pause(request, profile, context) -> list[str] | None:
    form = forms.PauseForm(request.POST)
    if not form.is_valid():
        context["pause_form"] = form
        return None
    return preferences.pause_set(profile=profile, weeks=form.cleaned_data["weeks"])


def _resume(request, profile, context) -> list[str]:
    return preferences.pause_set(profile=profile, weeks=None)


def _phone(request, profile, context) -> list[str] | None:
    form = forms.PhoneForm(request.POST)
    if form.is_valid():
        try:
            return preferences.phone_change(
                profile=profile,
                phone=form.cleaned_data["phone"],
                evidence=request_evidence(request, "preferences"),
            )
        except preferences.PreferenceError as error:
            form.add_error("phone", str(error))
    context["phone_form"] = form
    return None


def _unsubscribe_all(request, profile, context) -> list[str]:
    return preferences.unsubscribe_all(
        profile=profile, evidence=request_evidence(request, "preferences")
    )


PREFERENCE_ACTIONS = {
    "save": _save,
    "pause": _pause,
    "resume": _resume,
    "phone": _phone,
    "unsubscribe_all": _unsubscribe_all,
}


# --- One-click unsubscribe (RFC 8058) ----------------------------------------------------------


def _is_post(request: HttpRequest) -> bool:
    return request.method == "POST"


# Mail providers send one-click POSTs from a few shared addresses and without cookies:
# no CSRF, and no rate limit on POST, or an unsubscribe could be refused.
@csrf_exempt
@rate_limited("unsubscribe", exempt=_is_post)
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        target = tokens.read_token(tokens.UNSUBSCRIBE, token)
    except tokens.InvalidToken:
        return _invalid_link(request)
    profile = target.profile
    if request.method == "GET":
        topic = Topic.objects.filter(key=target.topic).first() if target.topic else None
        context = {"profile": profile, "topic": topic}
        return _render(request, "compliance/unsubscribe.html", context)
    if request.POST.get("List-Unsubscribe") != "One-Click":
        return _render(request, "compliance/bad_request.html", status=400)
    preferences.link_unsubscribe(
        profile=profile,
        channel=target.channel or "email",
        topic_key=target.topic,
        evidence=request_evidence(request, "one_click"),
    )
    return _render(
        request,
        "compliance/unsubscribed.html",
        {"preferences_url": tokens.preferences_url(profile)},
    )


# --- Sign-up and double opt-in ---------------------------------------------------------------


@rate_limited("subscribe")
@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    form = forms.SignupForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        data = form.cleaned_data
        try:
            result = signup.signup_submit(
                email=data["email"],
                phone=data["phone"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                email_consent=data["email_consent"],
                sms_consent=data["sms_consent"],
                evidence=request_evidence(request, "subscribe"),
            )
        except IdentityError:
            form.add_error(None, "We could not sign you up with these details. Please check them.")
        else:
            return _render(request, "compliance/subscribe_done.html", {"result": result})
    return _render(request, "compliance/subscribe.html", {"form": form})


@rate_limited("confirm")
@require_http_methods(["GET", "POST"])
def subscribe_confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        target = tokens.read_token(tokens.CONFIRM, token, max_age_days=tokens.CONFIRM_MAX_AGE_DAYS)
    except tokens.InvalidToken:
        return _invalid_link(request)
    if not target.address or target.address != target.profile.email:
        return _invalid_link(request)
    # GET only shows a button: mail scanners follow links, only a person presses buttons.
    if request.method == "GET":
        return _render(request, "compliance/confirm.html", {"address": target.address})
    signup.signup_confirm(
        profile=target.profile,
        address=target.address,
        token=token,
        evidence=request_evidence(request, "confirm"),
    )
    return _render(
        request,
        "compliance/confirmed.html",
        {"address": target.address, "preferences_url": tokens.preferences_url(target.profile)},
    )
