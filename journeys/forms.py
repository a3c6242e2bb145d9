"""The admin's step form: each step type's own settings fields, not raw JSON."""

from __future__ import annotations

import copy
import json

from django import forms
from django.core.exceptions import ValidationError

from journeys.models import Step
from journeys.steps import registry
from profiles.forms import ProfileField

SEP = "__"


def typed_fields() -> dict[str, forms.Field]:
    """Every registered type's settings fields, named '<type>__<field>', all optional here."""
    fields = {}
    for type_name, step_type in sorted(registry.items()):
        for name, field in step_type.form.base_fields.items():
            clone = copy.deepcopy(field)
            clone.required = False
            clone.label = f"{field.label or name.replace('_', ' ').capitalize()}"
            fields[f"{type_name}{SEP}{name}"] = clone
    return fields


def fieldsets_by_type() -> list[tuple[str, dict]]:
    groups: dict[str, list[str]] = {}
    for name in typed_fields():
        groups.setdefault(name.split(SEP)[0], []).append(name)
    return [
        (f"{registry[t].label} settings", {"fields": names, "classes": ["collapse", f"type-{t}"]})
        for t, names in groups.items()
    ]


class StepFormBase(forms.ModelForm):
    class Meta:
        model = Step
        fields = ["key", "name", "type", "next_step", "yes_step", "no_step", "position",
                  "settings"]  # fmt: skip
        help_texts = {"settings": "Advanced: raw settings, used when the fields above are empty."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["settings"].required = False
        if self.instance.pk and self.instance.type:
            for name, value in (self.instance.settings or {}).items():
                self.initial[f"{self.instance.type}{SEP}{name}"] = value

    def clean(self):
        data = super().clean()
        step_type = registry.get(data.get("type", ""))
        if step_type is None:
            return data
        typed = {
            name.split(SEP, 1)[1]: value
            for name, value in data.items()
            if name.startswith(f"{step_type.name}{SEP}") and value not in (None, "", [], False)
        }
        raw = typed or (data.get("settings") or {})
        try:
            data["settings"] = step_type.clean(_as_form_data(step_type, raw))
        except ValidationError as error:
            raise ValidationError({"settings": error.messages}) from error
        return data


# The typed fields are declared on the class, so the admin's fieldsets may name them.
StepForm = type("StepForm", (StepFormBase,), typed_fields())


def _as_form_data(step_type, values: dict) -> dict:
    """Python values back into what the type's form parses (JSON fields take text)."""
    data = {}
    for name, value in values.items():
        field = step_type.form.base_fields.get(name)
        if isinstance(field, forms.JSONField) and not isinstance(value, str):
            value = json.dumps(value)
        data[name] = value
    return data


class DryRunForm(forms.Form):
    profile = ProfileField()
