"""Message templates: what a marketer writes, checked before it can be saved."""

from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from compliance.models import Category, Topic
from profiles.models import Channel


class MessageTemplate(models.Model):
    key = models.SlugField(max_length=80, unique=True, help_text="Journeys refer to it by key.")
    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.MARKETING)
    topic = models.ForeignKey(
        Topic,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text="Consent is checked for this topic; unsubscribe links name it.",
    )
    subject = models.CharField(max_length=255, blank=True)
    preheader = models.CharField(
        max_length=255, blank=True, help_text="The preview line inboxes show after the subject."
    )
    body_html = models.TextField(
        "HTML body",
        blank=True,
        help_text="Marketing email: include {{ footer }}, or both {{ unsubscribe_url }} and "
        "{{ postal_address }}.",
    )
    body_text = models.TextField("text body", blank=True)
    sms_body = models.TextField(
        "SMS body", blank=True, help_text="Marketing SMS must name the brand ({{ brand }})."
    )
    switch_template = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The same message on the other channel, used when a frequency cap "
        "switches channel. Without one, a switch skips the message.",
    )
    sms_segments = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    sms_encoding = models.CharField(max_length=10, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "message template"

    def __str__(self) -> str:
        return f"{self.name} ({self.get_channel_display()})"

    def save(self, *args, **kwargs):
        if self.channel == Channel.SMS:
            from channels.segments import estimate_template

            info = estimate_template(self.sms_body)
            self.sms_segments, self.sms_encoding = info.segments, info.encoding
        else:
            self.sms_segments, self.sms_encoding = None, ""
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("admin:channels_messagetemplate_change", args=[self.pk])

    def clean(self) -> None:
        from channels.template_checks import template_errors

        errors = template_errors(self)
        if errors:
            raise ValidationError(errors)

    @property
    def is_marketing(self) -> bool:
        return self.category == Category.MARKETING
