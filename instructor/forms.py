"""Every piece of instructor and join input is parsed and validated here."""

from django import forms
from django.core.exceptions import ValidationError

from instructor.misconception_map import DEFAULT_SORT as DEFAULT_MAP_SORT
from instructor.misconception_map import SORTS as MAP_SORTS
from instructor.models import JOIN_CODE_LENGTH, Cohort

DEFAULT_SORT = "learner"


class CohortForm(forms.Form):
    name = forms.CharField(
        label="Cohort name",
        max_length=100,
        strip=True,
        help_text="For example “Autumn 2026, Tuesday group”. Learners see it when they join.",
        error_messages={
            "required": "Give the cohort a name.",
            "max_length": "Keep the name under 100 characters.",
        },
    )

    def __init__(self, *args, owner, **kwargs):
        super().__init__(*args, **kwargs)
        self.owner = owner

    def clean_name(self):
        name = self.cleaned_data["name"]
        if Cohort.objects.filter(owner=self.owner, name__iexact=name).exists():
            raise ValidationError(f"You already have a cohort called “{name}”. Choose another name.")
        return name


class SortForm(forms.Form):
    """`?sort=` on the dashboard: learner, last_active, lab or a topic's slug; "-" reverses."""

    sort = forms.ChoiceField(required=False)

    def __init__(self, *args, topics, **kwargs):
        super().__init__(*args, **kwargs)
        keys = ["learner", "last_active", "lab", *(topic.slug for topic in topics)]
        self.fields["sort"].choices = [(value, value) for key in keys for value in (key, f"-{key}")]
        self.fields["sort"].error_messages["invalid_choice"] = (
            "Cannot sort by “%(value)s”: use a column's heading link. Sorted by learner instead."
        )

    def chosen_sort(self) -> str:
        if self.is_valid() and self.cleaned_data["sort"]:
            return self.cleaned_data["sort"]
        return DEFAULT_SORT


class MisconceptionSortForm(forms.Form):
    """`?sort=` on the misconception map: weighted (the default), learners or name."""

    sort = forms.ChoiceField(
        required=False,
        choices=list(MAP_SORTS.items()),
        error_messages={
            "invalid_choice": "Cannot sort by “%(value)s”: use a column's heading link. "
            "Sorted by weighted score instead."
        },
    )

    def chosen_sort(self) -> str:
        if self.is_valid() and self.cleaned_data["sort"]:
            return self.cleaned_data["sort"]
        return DEFAULT_MAP_SORT


class JoinCodeForm(forms.Form):
    code = forms.CharField(
        label="Join code",
        max_length=20,
        strip=True,
        help_text=f"The {JOIN_CODE_LENGTH} letters and digits your instructor gave you.",
        error_messages={"required": "Type the join code your instructor gave you."},
    )

    def clean_code(self):
        code = self.cleaned_data["code"].replace(" ", "").replace("-", "").upper()
        if not Cohort.objects.filter(join_code=code).exists():
            raise ValidationError(f"No cohort has the code “{code}”. Check it with your instructor.")
        return code
