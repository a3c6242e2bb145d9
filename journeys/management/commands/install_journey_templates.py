from django.core.management.base import BaseCommand
from django.db import transaction

from channels.models import MessageTemplate
from compliance.models import Topic
from journeys.models import Journey, Step
from journeys.seed_flows import FLOWS
from journeys.services import journey_validate


class Command(BaseCommand):
    help = (
        "Install the five seed flows (abandoned cart, welcome, post-purchase, win-back, VIP) "
        "as drafts with their templates. Idempotent: an installed flow is left as it is."
    )

    def handle(self, *args, **options):
        for flow in FLOWS:
            with transaction.atomic():
                journey, created = install(flow)
            problems = journey_validate(journey=journey)
            state = "installed" if created else "already there"
            self.stdout.write(f"{journey.name}: {state} ({journey.get_status_display()})"
                              + (f"; problems: {problems}" if problems else ""))  # fmt: skip


def install(flow: dict) -> tuple[Journey, bool]:
    flow = dict(flow)
    templates, steps = flow.pop("templates"), flow.pop("steps")
    existing = Journey.objects.filter(template_key=flow["template_key"]).first()
    if existing:
        return existing, False
    for template in templates:
        values = dict(template)
        values["topic"] = Topic.objects.filter(key=values.pop("topic")).first()
        MessageTemplate.objects.get_or_create(key=values.pop("key"), defaults=values)
    journey = Journey.objects.create(**flow)
    for position, step in enumerate(steps):
        Step.objects.create(journey=journey, key=step["key"], type=step["type"],
                            settings=step.get("settings", {}), next_step=step.get("next", ""),
                            yes_step=step.get("yes", ""), no_step=step.get("no", ""),
                            position=position)  # fmt: skip
    return journey, True
