from django.conf import settings
from django.db import migrations

# Frozen copy of compliance.disclosures.WORDING at the time of this migration.
WORDING = {
    "email-marketing": (
        "email",
        "Email me news and offers from {company}. I can unsubscribe at any time with the "
        "link at the bottom of every email.",
    ),
    "sms-marketing": (
        "sms",
        "By checking this box, I agree to receive recurring automated marketing text "
        "messages ({program}) from {sms_brand} at the number provided. Consent is not a "
        "condition of purchase. {frequency}. Msg & data rates may apply. Reply HELP for "
        "help, STOP to cancel.",
    ),
    "sms-marketing-new-number": (
        "sms",
        "When I reply YES to the confirmation text, I agree to receive recurring automated "
        "marketing text messages ({program}) from {sms_brand} at this number. Consent is not "
        "a condition of purchase. {frequency}. Msg & data rates may apply. Reply HELP for "
        "help, STOP to cancel.",
    ),
}


def seed_disclosures(apps, schema_editor):
    DisclosureText = apps.get_model("compliance", "DisclosureText")
    values = {
        "company": settings.COMPANY_NAME,
        "sms_brand": settings.SMS_BRAND_NAME,
        "program": settings.SMS_PROGRAM_NAME,
        "frequency": settings.SMS_MESSAGE_FREQUENCY.rstrip("."),
    }
    for key, (channel, wording) in WORDING.items():
        if not DisclosureText.objects.filter(key=key).exists():
            DisclosureText.objects.create(
                key=key, version=1, channel=channel, text=wording.format(**values)
            )


class Migration(migrations.Migration):
    dependencies = [("compliance", "0004_default_caps")]

    operations = [migrations.RunPython(seed_disclosures, migrations.RunPython.noop)]
