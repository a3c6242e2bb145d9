"""send_email, send_sms and wait_for_engagement: the escalation primitives."""

from __future__ import annotations

from datetime import timedelta

from django import forms

from journeys.engagement import engagement_with
from journeys.steps.base import Context, Result, StepSpec, StepType, register, scaled


class SendForm(forms.Form):
    template = forms.SlugField(help_text="The message template's key.")
    expiry_hours = forms.IntegerField(
        min_value=1, required=False, initial=24,
        help_text="A deferred message older than this is skipped and the journey moves on.",
    )  # fmt: skip
    unless_engaged_with = forms.SlugField(
        required=False,
        help_text="Escalation: an earlier send step; engagement with its message cancels this "
        "one, even while it waits in the outbox.",
    )


class Send(StepType):
    channel: str
    form = SendForm
    waits = True  # a deferred send waits

    def run(self, ctx: Context) -> Result:
        from journeys import sending  # channels loads after journeys' step registry

        s = ctx.spec.settings
        if earlier := s.get("unless_engaged_with"):
            message = ctx.state.get("messages", {}).get(earlier)
            kinds = ["opened", "clicked", "replied"]
            if message and engagement_with(profile_id=ctx.profile.pk, message=message,
                                           kinds=kinds):  # fmt: skip
                return Result.go(ctx.spec.next, "skipped", f"engaged with {earlier}")
        expiry = scaled(timedelta(hours=s.get("expiry_hours") or 24))
        if ctx.dry_run:
            return Result.go(ctx.spec.next, *sending.dry_run(ctx, self.channel, expiry))
        message = sending.queue(ctx, channel=self.channel, template_key=s["template"],
                                expiry=expiry)  # fmt: skip
        if message is None:
            return Result.go(
                ctx.spec.next, "failed", f"no {self.channel} template {s['template']!r}"
            )
        if isinstance(message, sending.Request):
            return Result.queue(message)
        if sending.is_due(message, ctx.now):  # not dispatched yet: wait for its task
            return Result.dispatch(message.pk, ctx.now + sending.handoff_wait(message, ctx.now))
        report = sending.report(ctx, message)
        if report.waiting_until:
            return Result.wait(report.waiting_until, "deferred", report.reason)
        return Result.go(ctx.spec.next, report.outcome, report.reason)

    def describe(self, spec: StepSpec) -> str:
        extra = ""
        if spec.settings.get("unless_engaged_with"):
            extra = f" unless {spec.settings['unless_engaged_with']} was engaged"
        return f"Send {self.channel.upper() if self.channel == 'sms' else 'email'}: " + (
            f"{spec.settings.get('template', '?')}{extra}"
        )


@register
class SendEmail(Send):
    name = "send_email"
    label = "Send email"
    channel = "email"


@register
class SendSms(Send):
    name = "send_sms"
    label = "Send SMS"
    channel = "sms"


class EngagementForm(forms.Form):
    step = forms.SlugField(help_text="The earlier send step whose message to watch.")
    hours = forms.IntegerField(min_value=1, help_text="How long to wait for engagement.")
    opened = forms.BooleanField(required=False, initial=True)
    clicked = forms.BooleanField(required=False, initial=True)
    replied = forms.BooleanField(required=False, initial=True)
    include_machine_opens = forms.BooleanField(
        required=False, help_text="Count opens the ESP marks as machine (Apple MPP) opens."
    )

    def clean(self):
        data = super().clean()
        if not any(data.get(k) for k in ("opened", "clicked", "replied")):
            raise forms.ValidationError("Pick at least one kind of engagement.")
        return data


@register
class WaitForEngagement(StepType):
    """Wait up to N hours for an open, click or reply; yes = engaged, no = timed out.

    An engagement event wakes the enrollment at once (journeys.triggers).
    """

    name = "wait_for_engagement"
    label = "Wait for engagement (yes: engaged, no: timed out)"
    form = EngagementForm
    exits = ("yes", "no")
    waits = True

    def run(self, ctx: Context) -> Result:
        s = ctx.spec.settings
        deadline = ctx.started_at + scaled(timedelta(hours=s["hours"]))
        message = ctx.state.get("messages", {}).get(s["step"])
        if message:
            kinds = [k for k in ("opened", "clicked", "replied") if s.get(k)]
            event = engagement_with(
                profile_id=ctx.profile.pk,
                message=message,
                kinds=kinds,
                include_machine_opens=bool(s.get("include_machine_opens")),
            )
            if event is not None:
                return Result.go(ctx.spec.yes, "engaged", f"{event.name} {s['step']}")
        elif not ctx.dry_run:
            return Result.go(ctx.spec.no, "timed_out", f"no message was sent at {s['step']}")
        if ctx.now >= deadline:
            return Result.go(ctx.spec.no, "timed_out", f"no engagement in {s['hours']} h")
        return Result.wait(deadline, reason=f"for engagement with {s['step']}")

    def describe(self, spec: StepSpec) -> str:
        kinds = [k for k in ("opened", "clicked", "replied") if spec.settings.get(k)]
        s = spec.settings
        return f"Wait {s.get('hours')} h for {'/'.join(kinds)} on {s.get('step')}"
