"""Forms of the hosted pages: the preference centre's sections and the sign-up form."""

from django import forms

from compliance.disclosures import EMAIL_MARKETING, SMS_MARKETING, disclosure_wording
from compliance.models import ConsentStatus
from compliance.preferences import (
    CHANNEL_NAMES,
    PAUSE_WEEKS,
    PreferenceError,
    PreferenceState,
    mobile_number,
)
from profiles.identity import IdentityError, normalise_email
from profiles.models import Channel

PRIMARY_CHOICES = [("", "No preference"), (Channel.EMAIL, "Email"), (Channel.SMS, "Text messages")]


def topic_field_name(channel: str, key: str) -> str:
    return f"{channel}__{key}"


class PreferencesForm(forms.Form):
    """Channels x marketing topics and the primary channel; initial values = current state."""

    primary_channel = forms.ChoiceField(
        choices=PRIMARY_CHOICES, required=False, widget=forms.RadioSelect
    )

    def __init__(self, *args, state: PreferenceState, **kwargs):
        super().__init__(*args, **kwargs)
        self.state = state
        preference = state.preference
        self.fields["primary_channel"].initial = preference.primary_channel if preference else ""
        for channel in (Channel.EMAIL, Channel.SMS):
            subscribed = state.channel(channel) == ConsentStatus.SUBSCRIBED
            self.fields[channel] = forms.BooleanField(
                required=False, initial=subscribed, label=f"{CHANNEL_NAMES[channel]} marketing"
            )
            for topic in state.topics:
                self.fields[topic_field_name(channel, topic.key)] = forms.BooleanField(
                    required=False,
                    initial=state.topic_wanted(channel, topic),
                    label=topic.name,
                    help_text=topic.description,
                )

    def channel_sections(self) -> list[dict]:
        """Per channel: its switch, its topic boxes and its state, for the template.

        Plain values rather than widgets: the page is the hot path, and Django's widget
        templates cost more than the rest of the page together.
        """
        return [
            {
                "channel": channel,
                "name": CHANNEL_NAMES[channel],
                "switch": self._box(channel),
                "topics": [self._box(topic_field_name(channel, t.key)) for t in self.state.topics],
                "status": self.state.channel(channel),
            }
            for channel in (Channel.EMAIL, Channel.SMS)
        ]

    def _box(self, name: str) -> dict:
        bound = self[name]
        return {
            "name": bound.html_name,
            "id": bound.auto_id,
            "checked": bool(bound.value()),
            "label": bound.label,
            "help": bound.help_text,
        }

    def primary_choices(self) -> list[dict]:
        current = self["primary_channel"].value() or ""
        return [
            {"value": value, "label": label, "id": f"id_primary_{value or 'none'}"}
            | {"checked": value == current}
            for value, label in PRIMARY_CHOICES
        ]

    def changes(self) -> tuple[dict[str, bool], dict[tuple[str, str], bool], str | None]:
        """(channels, topics, primary channel) the person changed; None = unchanged."""
        changed = set(self.changed_data)
        channels = {c: self.cleaned_data[c] for c in (Channel.EMAIL, Channel.SMS) if c in changed}
        topics = {
            (c, t.key): self.cleaned_data[topic_field_name(c, t.key)]
            for c in (Channel.EMAIL, Channel.SMS)
            for t in self.state.topics
            if topic_field_name(c, t.key) in changed
        }
        primary = self.cleaned_data["primary_channel"] if "primary_channel" in changed else None
        return channels, topics, primary


class PauseForm(forms.Form):
    weeks = forms.TypedChoiceField(
        choices=[(w, f"{w} week{'s' if w > 1 else ''}") for w in PAUSE_WEEKS],
        coerce=int,
        widget=forms.RadioSelect,
        label="Pause for",
        initial=PAUSE_WEEKS[0],
    )


class PhoneForm(forms.Form):
    phone = forms.CharField(
        label="Mobile number",
        max_length=32,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
        help_text="With the country code, e.g. +1 415 555 0123.",
    )

    def clean_phone(self) -> str:
        try:
            return mobile_number(self.cleaned_data["phone"])
        except PreferenceError as error:
            raise forms.ValidationError(str(error)) from error


class SignupForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False, label="First name")
    last_name = forms.CharField(max_length=150, required=False, label="Last name")
    email = forms.CharField(
        max_length=254,
        required=False,
        label="Email",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    phone = forms.CharField(
        max_length=32,
        required=False,
        label="Mobile number",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
        help_text="With the country code, e.g. +1 415 555 0123.",
    )
    email_consent = forms.BooleanField(required=False, initial=False)
    sms_consent = forms.BooleanField(required=False, initial=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The label is the disclosure itself: the exact text stored on the ledger.
        self.fields["email_consent"].label = disclosure_wording(EMAIL_MARKETING)
        self.fields["sms_consent"].label = disclosure_wording(SMS_MARKETING)

    def clean_email(self) -> str | None:
        try:
            return normalise_email(self.cleaned_data["email"])
        except IdentityError as error:
            raise forms.ValidationError("Enter a valid email address.") from error

    def clean_phone(self) -> str | None:
        if not self.cleaned_data["phone"].strip():
            return None
        try:
            return mobile_number(self.cleaned_data["phone"])
        except PreferenceError as error:
            raise forms.ValidationError(str(error)) from error

    def clean(self) -> dict:
        data = super().clean()
        if not (data.get("email_consent") or data.get("sms_consent")):
            raise forms.ValidationError("Tick at least one box: email, texts or both.")
        if data.get("email_consent") and not data.get("email") and "email" not in self.errors:
            self.add_error("email", "Enter your email address to get emails.")
        if data.get("sms_consent") and not data.get("phone") and "phone" not in self.errors:
            self.add_error("phone", "Enter your mobile number to get texts.")
        return data
