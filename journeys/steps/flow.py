"""Steps that route: branch, split, choose_channel, update_profile, exit."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django import forms

from journeys import conditions
from journeys.steps.base import Context, Result, StepSpec, StepType, register


class BranchForm(forms.Form):
    kind = forms.ChoiceField(choices=conditions.KINDS)
    trait = forms.CharField(required=False)
    op = forms.ChoiceField(choices=conditions.OPS, required=False)
    value = forms.CharField(required=False)
    event = forms.CharField(required=False)
    within_days = forms.IntegerField(min_value=1, required=False)
    min_count = forms.IntegerField(min_value=1, required=False)
    channel = forms.ChoiceField(choices=[("", "-"), ("email", "Email"), ("sms", "SMS")],
                                required=False)  # fmt: skip
    status = forms.ChoiceField(
        choices=[
            ("", "-"),
            ("subscribed", "Subscribed"),
            ("unsubscribed", "Unsubscribed"),
            ("pending", "Pending"),
            ("never", "Never"),
        ],  # fmt: skip
        required=False,
    )
    step = forms.SlugField(required=False, help_text="Engagement: the send step to look at.")
    engagement = forms.ChoiceField(choices=conditions.ENGAGEMENTS, required=False)

    def clean(self):
        data = super().clean()
        missing = [f for f in conditions.REQUIRED[data.get("kind", "")] if not data.get(f)]
        if missing:
            raise forms.ValidationError(f"{data.get('kind')} needs: {', '.join(missing)}")
        return data


@register
class Branch(StepType):
    name = "branch"
    label = "Branch (yes / no)"
    form = BranchForm
    exits = ("yes", "no")

    def run(self, ctx: Context) -> Result:
        holds, why = conditions.evaluate(ctx.spec.settings, ctx)
        return Result.go(ctx.spec.yes if holds else ctx.spec.no, "branched", why)

    def describe(self, spec: StepSpec) -> str:
        return conditions.describe(spec.settings)


class SplitForm(forms.Form):
    weights = forms.JSONField(
        help_text='Step key -> weight, e.g. {"variant-a": 50, "variant-b": 50}'
    )

    def clean_weights(self):
        weights = self.cleaned_data["weights"]
        if not isinstance(weights, dict) or len(weights) < 2:
            raise forms.ValidationError("Give two or more branches.")
        if any(not isinstance(w, int) or w < 0 for w in weights.values()) or not sum(
            weights.values()
        ):
            raise forms.ValidationError("Weights are whole numbers >= 0, not all zero.")
        return weights


@register
class Split(StepType):
    """Random A/B split, stable per person: the same profile always takes the same branch."""

    name = "split"
    label = "A/B split"
    form = SplitForm
    exits = ()

    def targets(self, spec: StepSpec) -> list[str]:
        return list(spec.settings.get("weights", {}))

    def run(self, ctx: Context) -> Result:
        weights = ctx.spec.settings["weights"]
        seed = f"{ctx.journey.pk}:{ctx.spec.key}:{ctx.profile.pk}".encode()
        point = int.from_bytes(hashlib.blake2b(seed, digest_size=8).digest(), "big")
        point %= sum(weights.values())
        for key, weight in weights.items():
            if point < weight:
                return Result.go(key, "branched", f"split to {key}")
            point -= weight
        raise AssertionError("unreachable: weights cover the whole range")

    def describe(self, spec: StepSpec) -> str:
        weights = spec.settings.get("weights", {})
        return "Split " + " / ".join(f"{w}% {k}" for k, w in weights.items())


class ChooseChannelForm(forms.Form):
    default = forms.ChoiceField(choices=[("email", "Email"), ("sms", "SMS")])
    lookback_days = forms.IntegerField(min_value=1, required=False, initial=90)


@register
class ChooseChannel(StepType):
    """Primary channel preference, then the latest engagement's channel, then the default.

    Only consented channels count. yes = email, no = SMS, next = neither is consented.
    """

    name = "choose_channel"
    label = "Choose channel (yes: email, no: SMS, next: none)"
    form = ChooseChannelForm
    exits = ("yes", "no", "next")

    def run(self, ctx: Context) -> Result:
        lookback = timedelta(days=ctx.spec.settings.get("lookback_days", 90))
        channel, why = conditions.best_channel(
            ctx, default=ctx.spec.settings["default"], lookback=lookback
        )
        target = {"email": ctx.spec.yes, "sms": ctx.spec.no}.get(channel, ctx.spec.next)
        return Result.go(target, "branched", why)


class UpdateProfileForm(forms.Form):
    traits = forms.JSONField(help_text='Traits to set, e.g. {"welcome_flow": "done"}')

    def clean_traits(self):
        if not isinstance(self.cleaned_data["traits"], dict):
            raise forms.ValidationError("Traits are an object of names and values.")
        return self.cleaned_data["traits"]


@register
class UpdateProfile(StepType):
    name = "update_profile"
    label = "Update profile traits"
    form = UpdateProfileForm

    def run(self, ctx: Context) -> Result:
        changes = ctx.spec.settings["traits"]
        if not ctx.dry_run:
            from django.db import transaction

            from profiles.models import Profile

            with transaction.atomic():
                profile = Profile.objects.select_for_update().get(pk=ctx.profile.pk)
                profile.traits = {**(profile.traits or {}), **changes}
                profile.save(update_fields=["traits", "updated_at"])
            ctx.profile.traits = profile.traits
        return Result.go(ctx.spec.next, "updated", ", ".join(sorted(changes)))


class ExitForm(forms.Form):
    reason = forms.CharField(max_length=100, required=False)


@register
class Exit(StepType):
    name = "exit"
    label = "Exit"
    form = ExitForm
    exits = ()

    def run(self, ctx: Context) -> Result:
        return Result.end("exited", ctx.spec.settings.get("reason", "exit step"))
