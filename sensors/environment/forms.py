"""Forms of the environment pages."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.utils import timezone

from .profiles import RULE_FIELDS, catalog

SHELVE_CHOICES = [(15, "15 minutes"), (60, "1 hour"), (240, "4 hours"), (480, "8 hours"), (1440, "24 hours")]


class CommentForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, label="Comment")


class ShelveForm(forms.Form):
    reason = forms.CharField(max_length=500, help_text="Why this alarm may stay silent (recorded with your name).")
    minutes = forms.TypedChoiceField(choices=SHELVE_CHOICES, coerce=int, initial=60, label="For")

    def clean_minutes(self):
        minutes = self.cleaned_data["minutes"]
        if minutes * 60 > getattr(settings, "ALARM_MAX_SHELVE_S", 24 * 3600):
            raise forms.ValidationError("longer than shelving allows")
        return minutes

    def until(self):
        return timezone.now() + timedelta(minutes=self.cleaned_data["minutes"])


class SuppressForm(forms.Form):
    reason = forms.CharField(max_length=500, initial="maintenance")
    hours = forms.FloatField(min_value=0.25, max_value=24 * 14, required=False,
                             help_text="Leave empty to suppress until ended by hand.")


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)


class ReviewForm(forms.Form):
    day = forms.DateField()
    note = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class CorrectiveActionForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=5000, label="Corrective action taken")


class OverrideForm(forms.Form):
    """Another profile and/or changed limits of single rules; a reason is required (audited)."""

    profile = forms.ChoiceField(required=False, label="Profile",
                                help_text="Empty: the sensor's own or its room/equipment type's profile.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000,
                             help_text="Why the monitoring changes (recorded with your name).")

    def __init__(self, *args, profile=None, current=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["profile"].choices = [("", "(default)")] + [(p.slug, f"{p.slug} - {p.name}") for p in catalog()]
        self.rule_fields: list[tuple[str, list]] = []
        current = current or {}
        if profile is None:
            return
        for rule in profile.rules:
            names = []
            for name in RULE_FIELDS:
                key = f"{rule.id}__{name}"
                default = getattr(rule, name)
                if name == "priority":
                    field = forms.ChoiceField(required=False, choices=[("", f"({default})"), ("high", "high"),
                                                                       ("medium", "medium"), ("low", "low")])
                else:
                    field = forms.FloatField(required=False, min_value=RULE_FIELDS[name][1],
                                             widget=forms.NumberInput(attrs={"placeholder": f"{default:g}",
                                                                             "step": "any"}))
                field.label = name
                value = current.get(rule.id, {}).get(name)
                if value is not None:
                    field.initial = value
                self.fields[key] = field
                names.append(key)
            self.rule_fields.append((rule.id, [self[n] for n in names]))

    def rules(self) -> dict:
        out: dict[str, dict] = {}
        for key, value in self.cleaned_data.items():
            if "__" not in key or value in (None, ""):
                continue
            rid, name = key.split("__", 1)
            out.setdefault(rid, {})[name] = value
        return out
