"""Every piece of quiz input is parsed and validated here; problems become form errors."""

from django import forms
from django.core.exceptions import ValidationError

from quizzes.certainty import KEYS
from quizzes.models import Attempt, Certainty, ExplainAnswer, Question

EXPLANATION_MAX_LENGTH = 5000


CERTAINTY_KEYS = ", ".join(f"{key} {level.label.lower()}" for level, key in KEYS.items())


class ChoiceForm(forms.Form):
    """The options a learner picked for `question` (which needs `active_options`), and how sure they are.

    `cleaned_data["options"]` is the list of Option rows. A key that is not an active option of
    this question is an error, and so is more than one option where exactly one is correct.
    `cleaned_data["certainty"]` is a Certainty value: every new answer states one
    (docs/scoring.md, "Certainty-based marking", says why there is no default).
    """

    options = forms.MultipleChoiceField(
        error_messages={
            "required": "Choose at least one option.",
            "invalid_choice": "%(value)s is not an option of this question. Choose one of the options shown.",
        },
    )
    certainty = forms.ChoiceField(
        choices=Certainty.choices,
        error_messages={
            "required": f"Say how sure you are: low, medium or high (keys {CERTAINTY_KEYS}).",
            "invalid_choice": "%(value)s is not a certainty level. Choose low, medium or high.",
        },
    )

    def __init__(self, *args, question: Question, **kwargs):
        super().__init__(*args, **kwargs)
        self.question = question
        self.fields["options"].choices = [(option.key, option.key) for option in question.active_options]

    def clean_options(self):
        keys = set(self.cleaned_data["options"])
        if self.question.is_single_answer and len(keys) > 1:
            raise ValidationError("Choose one option: this question has a single answer.")
        return [option for option in self.question.active_options if option.key in keys]

    def chosen_keys(self) -> set[str]:
        """The keys to show as chosen when the form is re-rendered with errors."""
        return set(self.data.getlist("options")) if self.is_bound else set()

    def chosen_certainty(self) -> str:
        """The certainty to show as chosen when the form is re-rendered with errors."""
        value = self.data.get("certainty", "") if self.is_bound else ""
        return value if value in Certainty.values else ""


class AnswerForm(ChoiceForm):
    """An answer to one question of a test attempt, refused once the attempt was submitted."""

    def __init__(self, *args, attempt: Attempt, **kwargs):
        super().__init__(*args, **kwargs)
        self.attempt = attempt

    def clean(self):
        if self.attempt.is_submitted:
            raise ValidationError(
                "This test has already been submitted, so its answers can no longer change. "
                "Your result is below; start a new test to try again.",
                code="closed",
            )
        return super().clean()


class QuestionPickForm(forms.Form):
    """Which practice question (by slug) a hint or an answer is about."""

    question = forms.SlugField()

    def __init__(self, *args, questions: list[Question], **kwargs):
        super().__init__(*args, **kwargs)
        self.questions = questions

    def clean_question(self):
        slug = self.cleaned_data["question"]
        for question in self.questions:
            if question.slug == slug:
                return question
        raise ValidationError("That question is not part of this topic's practice. Reload the page.")


class ExplainForm(forms.Form):
    text = forms.CharField(
        label="Your explanation",
        max_length=EXPLANATION_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 8}),
        error_messages={"required": "Write your explanation first, in a few sentences."},
    )


class MarkCoveredForm(forms.Form):
    """A concept the matcher missed that the learner says their explanation covers."""

    concept = forms.SlugField()

    def __init__(self, *args, answer: ExplainAnswer, **kwargs):
        super().__init__(*args, **kwargs)
        self.answer = answer

    def clean_concept(self):
        key = self.cleaned_data["concept"]
        for concept in self.answer.prompt.all_concepts:
            if concept.key == key and concept.key not in self.answer.found_keys:
                return concept
        raise ValidationError("Only a concept this explanation missed can be marked as covered.")


class TestScreenForm(forms.Form):
    """`?q=` on the test page: the question position to show; `?confirm=1`: the summary shown
    before submitting (unanswered questions, answers without certainty, "Submit now")."""

    q = forms.IntegerField(min_value=1, required=False)
    confirm = forms.BooleanField(required=False)

    def position(self) -> int | None:
        return self.cleaned_data.get("q") if self.is_valid() else None

    def is_confirming(self) -> bool:
        return bool(self.is_valid() and self.cleaned_data.get("confirm"))

    def names_a_screen_of_an_attempt(self) -> bool:
        """True for the URL of one question or of the confirmation: a screen of an open attempt."""
        return self.position() is not None or self.is_confirming()


class PracticeScreenForm(forms.Form):
    """`?q=<question slug>&answered=<answer id>` on the practice page."""

    q = forms.SlugField(required=False)
    answered = forms.IntegerField(min_value=1, required=False)


class MissedForm(forms.Form):
    """`missed=<attempt id>` (query string, or a hidden field when answering): practise the
    questions that submitted test got wrong, one after the other."""

    missed = forms.IntegerField(min_value=1, required=False)


class ExplainScreenForm(forms.Form):
    """`?p=<prompt slug>` on the explain page."""

    p = forms.SlugField(required=False)
