import uuid

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from channels.models import MessageTemplate
from channels.rendering import render_preview
from channels.segments import estimate_template
from channels.services import dispatch, message_create
from profiles.forms import ProfileField


class ProfileChoiceForm(forms.Form):
    profile = ProfileField()


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "key",
        "channel",
        "category",
        "topic",
        "sms_segments",
        "sms_encoding",
        "updated_at",
    ]
    list_filter = ["channel", "category", "topic"]
    search_fields = ["name", "key", "subject", "sms_body"]
    prepopulated_fields = {"key": ["name"]}
    readonly_fields = ["sms_segments", "sms_encoding"]
    fieldsets = [
        (None, {"fields": ["name", "key", "channel", "category", "topic", "switch_template"]}),
        ("Email", {"fields": ["subject", "preheader", "body_html", "body_text"]}),
        ("SMS", {"fields": ["sms_body", "sms_segments", "sms_encoding"]}),
    ]
    change_form_template = "admin/channels/messagetemplate/change_form.html"

    class Media:
        js = ["channels/segments.js"]

    def get_urls(self):
        own = [
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="channels_messagetemplate_preview",
            ),
            path(
                "<int:pk>/test-send/",
                self.admin_site.admin_view(self.test_send_view),
                name="channels_messagetemplate_test_send",
            ),
        ]
        return own + super().get_urls()

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "segment_price": settings.SMS_SEGMENT_PRICE,
            "short_link_sample": f"{settings.PUBLIC_BASE_URL}/l/xxxxxxx",
        }
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if obj.channel == "sms":
            self._warn_segments(request, obj)

    def _warn_segments(self, request, obj) -> None:
        info = estimate_template(obj.sms_body)
        if info.encoding == "UCS-2":
            messages.warning(
                request,
                f"UCS-2 encoding (because of {info.non_gsm!r}): 70 characters per segment.",
            )
        if info.segments > 2:
            messages.warning(request, f"{info.segments} segments: about {info.cost} per message.")

    def preview_view(self, request, pk):
        template = get_object_or_404(MessageTemplate, pk=pk)
        if not self.has_view_permission(request, template):
            return redirect("admin:index")
        form = ProfileChoiceForm(request.GET or None)
        rendered = error = None
        if form.is_valid():
            rendered, error = render_preview(
                template=template, profile=form.cleaned_data["profile"]
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": template,
            "title": f"Preview: {template.name}",
            "form": form,
            "rendered": rendered,
            "error": error,
        }
        return TemplateResponse(request, "admin/channels/messagetemplate/preview.html", context)

    def test_send_view(self, request, pk):
        template = get_object_or_404(MessageTemplate, pk=pk)
        form = ProfileChoiceForm(request.POST or None)
        if request.method != "POST" or not self.has_change_permission(request, template):
            return redirect("admin:channels_messagetemplate_change", pk)
        if not form.is_valid():
            messages.error(request, "Choose an existing profile id for the test send.")
            return redirect("admin:channels_messagetemplate_change", pk)
        message = message_create(
            profile=form.cleaned_data["profile"],
            template=template,
            idempotency_key=f"test:{template.pk}:{uuid.uuid4()}",
            source_kind="test",
        )
        message = dispatch(message=message)
        reason = f" ({message.reason})" if message.reason else ""
        messages.info(request, f"Test send: {message.get_status_display()}{reason}.")
        return redirect(reverse("admin:channels_message_change", args=[message.pk]))
