# ruff: noqa: RUF012  (Django Meta options are dicts by design)
"""The data entry forms, with the edit checks (``checks``) shown next to their field.

Every form: dates typed or picked (``<input type=date>``), one field per line in
tab order, the first field focused, Enter saves. Errors block the save; warnings
(the reader's warnings) are shown next to their field and need a tick on
"confirm" to save anyway. A change to a saved record needs a reason; the form
carries the version it was opened at (optimistic locking).
"""

from __future__ import annotations

from typing import Any

from django import forms

from itpcohort.cohort import schema, units
from itpcohort.study import checks
from itpcohort.study.models import (
    AdverseEvent,
    Bleeding,
    Lab,
    Patient,
    PatientIdentity,
    Site,
    StudySettings,
    Treatment,
)

YES_NO = [("", "unknown"), ("true", "yes"), ("false", "no")]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


def _yes_no(label: str = "") -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        choices=YES_NO,
        required=False,
        label=label or None,
        coerce=lambda v: {"true": True, "false": False}.get(v),
        empty_value=None,
        widget=forms.RadioSelect(attrs={"class": "inline"}),
    )


def _choice(values: tuple[str, ...], *, blank: str | None = None) -> forms.ChoiceField:
    options = ([("", blank)] if blank is not None else []) + [
        (v, v.replace("_", " ")) for v in values
    ]
    return forms.ChoiceField(choices=options, required=blank is None)


class CheckedForm(forms.ModelForm):
    """A model form whose values pass the cohort format's rules (``checks``)."""

    reason = forms.CharField(
        required=False,
        max_length=500,
        help_text="Why this change.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "size": 50}),
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    confirm = forms.BooleanField(required=False, label="Confirm: save despite the warnings")

    #: run the reader itself on the patient's tables (rules that span rows)
    use_reader = False

    def __init__(self, *args: Any, patient: Patient | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.warnings: dict[str | None, list[str]] = {}
        if self.instance.pk is not None:
            self.fields["reason"].help_text = (
                "Why this change (required to change or clear a saved value; not for filling "
                "in a blank)."
            )
            self.initial.setdefault("version", self.instance.version)
        else:
            del self.fields["reason"]
        first = next(iter(self.fields.values()))
        first.widget.attrs.setdefault("autofocus", True)

    def table_values(self) -> dict[str, Any]:
        """The cleaned values under the cohort format's column names."""
        data = self.cleaned_data
        return {k: data.get(k) for k in self.fields if k not in ("reason", "version", "confirm")}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        spec = self._meta.model.table  # type: ignore[attr-defined]
        self.apply(checks.cell_findings(spec, self.check_values()))
        return data

    def check_values(self) -> dict[str, Any]:
        return self.table_values()

    def apply(self, findings: list[checks.Finding]) -> None:
        """Errors next to their field (or above the form); warnings kept for confirming."""
        for f in findings:
            field = f.field if f.field in self.fields else None
            if f.severity == "error":
                self.add_error(field, f.message)
            else:
                self.warnings.setdefault(field, []).append(f.message)
        confirmed = self.cleaned_data.get("confirm") or "confirm" in self.errors
        if self.warnings and not self.errors and not confirmed:
            self.add_error("confirm", "check the warnings, then tick this box to save anyway")


class ScreeningForm(CheckedForm):
    """Screening and eligibility: study ID, site, date, the checklist, exclusion reason."""

    use_reader = True

    class Meta:
        model = Patient
        fields = ("patient_id", "site", "enrollment_date", "excluded")
        labels = {
            "patient_id": "Study ID (pseudonymous)",
            "enrollment_date": "Enrolment (or screening) date",
            "excluded": "Exclusion reason (empty = enrolled)",
        }
        widgets = {"enrollment_date": DateInput(), "excluded": forms.TextInput(attrs={"size": 50})}

    def __init__(self, *args: Any, sites: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites if sites is not None else Site.objects.none()
        self.fields["site"].required = True
        if self.instance.pk is not None:
            self.fields["patient_id"].disabled = True
        self.criteria = StudySettings.current().eligibility
        answers = self.instance.eligibility or {}
        for item in self.criteria:
            name = f"elig_{item['key']}"
            self.fields[name] = _yes_no(item["text"])
            self.initial.setdefault(
                name, {True: "true", False: "false"}.get(answers.get(item["key"]), "")
            )

        self.order_fields(
            [
                "patient_id",
                "site",
                "enrollment_date",
                *(f"elig_{i['key']}" for i in self.criteria),
                "excluded",
            ]
        )

    def table_values(self) -> dict[str, Any]:
        values = super().table_values()
        values["eligibility"] = {
            item["key"]: self.cleaned_data.get(f"elig_{item['key']}") for item in self.criteria
        }
        for item in self.criteria:
            values.pop(f"elig_{item['key']}", None)
        return values

    def check_values(self) -> dict[str, Any]:
        values = self.table_values()
        values.pop("eligibility")
        values["site"] = values["site"].code if values.get("site") else None
        return values

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        unmet = [i["text"] for i in self.criteria if data.get(f"elig_{i['key']}") is False]
        if unmet and not (data.get("excluded") or "").strip():
            self.add_error(
                "excluded", "not eligible (" + "; ".join(unmet) + "): give the exclusion reason"
            )
        return data


class BaselineForm(CheckedForm):
    """Baseline and aPL profile."""

    use_reader = True

    sle = _yes_no("SLE (2019 EULAR/ACR)")
    aps = _yes_no("APS")
    lupus_anticoagulant = _yes_no("Lupus anticoagulant")

    class Meta:
        model = Patient
        fields = (
            "sex",
            "age",
            "diagnosis_date",
            "sle",
            "aps",
            "lupus_anticoagulant",
            "acl_igg",
            "acl_igm",
            "ab2gpi_igg",
            "ab2gpi_igm",
            "followup_end_date",
        )
        labels = {
            "acl_igg": "aCL IgG (GPL)",
            "acl_igm": "aCL IgM (MPL)",
            "ab2gpi_igg": "anti-b2GPI IgG (U)",
            "ab2gpi_igm": "anti-b2GPI IgM (U)",
            "diagnosis_date": "Thrombocytopenia diagnosed",
            "followup_end_date": "Last contact (follow-up end)",
        }
        widgets = {
            "diagnosis_date": DateInput(),
            "followup_end_date": DateInput(),
            "sex": forms.TextInput(attrs={"size": 6, "list": "sexes"}),
        }


class TreatmentForm(CheckedForm):
    use_reader = True
    role = _choice(schema.ROLES)
    phase = _choice(schema.PHASES)
    stop_reason = _choice(schema.STOP_REASONS, blank="(not stopped, or not the last period)")

    class Meta:
        model = Treatment
        fields = ("drug", "role", "phase", "start_date", "end_date", "daily_dose_mg", "stop_reason")
        widgets = {
            "start_date": DateInput(),
            "end_date": DateInput(),
            "drug": forms.TextInput(attrs={"list": "drugs"}),
        }
        labels = {"end_date": "End date (empty = ongoing)", "daily_dose_mg": "Daily dose (mg)"}


class LabForm(CheckedForm):
    test = forms.ChoiceField(choices=[(t, t) for t in units.TESTS])

    class Meta:
        model = Lab
        fields = ("date", "test", "value", "unit")
        widgets = {"date": DateInput(), "unit": forms.TextInput(attrs={"list": "units"})}

    def check_values(self) -> dict[str, Any]:
        values = self.table_values()
        if self.patient is not None:
            values["_enrollment_date"] = self.patient.enrollment_date
        return values


class BleedingForm(CheckedForm):
    who_grade = forms.TypedChoiceField(
        choices=[(g, g) for g in range(5)], coerce=int, label="WHO grade"
    )

    class Meta:
        model = Bleeding
        fields = ("date", "who_grade", "site")
        widgets = {"date": DateInput(), "site": forms.TextInput(attrs={"list": "bleed-sites"})}
        labels = {"site": "Where (e.g. gum, epistaxis, GI)"}


class AdverseEventForm(CheckedForm):
    use_reader = True
    grade = forms.TypedChoiceField(
        choices=[("", "")] + [(g, g) for g in range(1, 6)],
        coerce=int,
        empty_value=None,
        required=False,
        label="CTCAE grade",
    )
    related = _yes_no("Related to the study drug")
    action = _choice(schema.AE_ACTIONS, blank="")

    class Meta:
        model = AdverseEvent
        fields = ("onset_date", "term", "grade", "related", "action", "end_date")
        widgets = {
            "onset_date": DateInput(),
            "end_date": DateInput(),
            "term": forms.TextInput(attrs={"size": 40}),
        }
        labels = {"term": "Term (CTCAE or MedDRA)", "end_date": "Resolved on"}


class IdentityForm(CheckedForm):
    class Meta:
        model = PatientIdentity
        fields = ("name", "hospital_number", "date_of_birth")
        widgets = {
            "date_of_birth": DateInput(),
            "name": forms.TextInput(),
            "hospital_number": forms.TextInput(),
        }

    def clean(self) -> dict[str, Any]:
        return forms.ModelForm.clean(self)


class DeleteForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        required=True,
        widget=forms.TextInput(attrs={"size": 50, "autofocus": True}),
        help_text="Why delete it (kept in the audit trail).",
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


class VisitForm(forms.Form):
    """A visit: its date and the labs taken, each value with its unit (defaulted per site)."""

    date = forms.DateField(widget=DateInput(attrs={"autofocus": True}))
    confirm = forms.BooleanField(required=False, label="Confirm: save despite the warnings")

    def __init__(self, *args: Any, patient: Patient, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.warnings: dict[str | None, list[str]] = {}
        settings = StudySettings.current()
        defaults = patient.site.lab_units if patient.site else {}
        self.tests = [t for t in settings.visit_tests if t in units.TESTS]
        for test in self.tests:
            options = checks.allowed_units(test)
            self.fields[f"{test}_value"] = forms.FloatField(
                required=False,
                label=test.replace("_", " "),
                widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
            )
            self.fields[f"{test}_unit"] = forms.ChoiceField(
                choices=[(u, u) for u in options],
                required=False,
                label=f"{test} unit",
                initial=defaults.get(test, options[0]),
            )

    def rows(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        return [(t, self[f"{t}_value"], self[f"{t}_unit"]) for t in self.tests]

    def labs(self) -> list[dict[str, Any]]:
        data = self.cleaned_data
        return [
            {
                "date": data["date"],
                "test": t,
                "value": data[f"{t}_value"],
                "unit": data[f"{t}_unit"] or checks.allowed_units(t)[0],
            }
            for t in self.tests
            if data.get(f"{t}_value") is not None
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        if not self.labs():
            raise forms.ValidationError("enter at least one value")
        for lab in self.labs():
            values = {**lab, "_enrollment_date": self.patient.enrollment_date}
            for f in checks.cell_findings(schema.LABS, values):
                field = {"value": f"{lab['test']}_value", "unit": f"{lab['test']}_unit"}.get(
                    f.field or "", "date" if f.field == "date" else None
                )
                if f.severity == "error":
                    self.add_error(field, f.message)
                else:
                    self.warnings.setdefault(field, []).append(f.message)
        if self.warnings and not self.errors and not data.get("confirm"):
            self.add_error("confirm", "check the warnings, then tick this box to save anyway")
        return data
