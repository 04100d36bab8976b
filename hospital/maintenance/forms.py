"""Forms of the maintenance pages (the lifecycle actions, fault reports, safety notices)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from .choices import Outcome
from .models import SafetyNotice


class DateInput(forms.DateInput):
    input_type = "date"


class CompleteForm(forms.Form):
    outcome = forms.ChoiceField(choices=[("", "—")] + list(Outcome.choices), required=False)
    findings = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False,
                               help_text="What was found and done (required for repairs).")
    downtime_hours = forms.FloatField(min_value=0, required=False, help_text="Hours out of service (optional).")
    completed_on = forms.DateField(widget=DateInput, required=False,
                                   help_text="Leave empty for now; set it when recording work done earlier.")

    def clean_completed_on(self):
        d = self.cleaned_data.get("completed_on")
        if d and d > timezone.localdate():
            raise forms.ValidationError("The work cannot be done in the future.")
        return d


class PartForm(forms.Form):
    part_number = forms.CharField(max_length=64, required=False)
    description = forms.CharField(max_length=200, required=False)
    quantity = forms.DecimalField(min_value=0, max_digits=9, decimal_places=2, required=False, initial=1)


PartFormSet = forms.formset_factory(PartForm, extra=3, max_num=20)


class NoteForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class DeferForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Required: why it waits.")
    until = forms.DateField(widget=DateInput, required=False, help_text="Optional: until when.")


class CancelForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Required: why it is not needed.")


class ScheduleForm(forms.Form):
    due_date = forms.DateField(widget=DateInput, required=False)
    assigned_to = forms.ModelChoiceField(queryset=get_user_model().objects.none(), required=False)
    note = forms.CharField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assigned_to"].queryset = get_user_model().objects.filter(
            groups__permissions__codename="complete_workorder").distinct().order_by("username")


class FaultForm(forms.Form):
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="What is wrong with it.")
    out_of_service = forms.BooleanField(required=False, help_text="Take it out of service until repaired.")


class SafetyNoticeForm(forms.ModelForm):
    class Meta:
        model = SafetyNotice
        fields = ["reference", "kind", "title", "manufacturer", "model", "asset_type", "issued_on", "action_required",
                  "due_within_days", "risk_class"]
        widgets = {"issued_on": DateInput, "action_required": forms.Textarea(attrs={"rows": 3})}
