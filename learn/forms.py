from django import forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm

from learn.models import Flashcard, Rating
from learn.services import SESSION_RATINGS_LIMIT, recent_signups

SIGNUP_LIMIT_MESSAGE = (
    "Too many new accounts were created from your address in the last hour (the limit is %(limit)s). "
    "Try again in an hour, or log in if you already have an account."
)


class SignupForm(UserCreationForm):
    """Username and password, nothing else: the app needs no e-mail address.

    `address` is the client's (config/client_address.py): a bounded number of accounts per
    address and hour (settings.SIGNUPS_PER_ADDRESS_PER_HOUR).
    """

    def __init__(self, *args, address, **kwargs):
        super().__init__(*args, **kwargs)
        self.address = address

    def clean(self):
        if recent_signups(self.address) >= settings.SIGNUPS_PER_ADDRESS_PER_HOUR:
            raise signup_limit_error()
        return super().clean()


def signup_limit_error() -> forms.ValidationError:
    limit = settings.SIGNUPS_PER_ADDRESS_PER_HOUR
    return forms.ValidationError(SIGNUP_LIMIT_MESSAGE, params={"limit": limit})


NOT_IN_DECK = "That card is not in this deck (any more): reload the page."


class RateForm(forms.Form):
    """One rating of one card. `cards` is the deck the card must belong to: a list (a topic's
    cards, kept per content version: no read) or a queryset (every active card: one read)."""

    card = forms.IntegerField(
        error_messages={
            "required": "Which card? The form named none: reload the page.",
            "invalid": NOT_IN_DECK,
        }
    )
    rating = forms.TypedChoiceField(
        choices=Rating.choices,
        coerce=int,
        error_messages={
            "required": "Choose a rating: Again, Hard, Good or Easy (keys 1 to 4).",
            "invalid_choice": "A rating is Again, Hard, Good or Easy (1 to 4); %(value)s is none of them.",
        },
    )
    reviews = forms.IntegerField(
        min_value=0, error_messages={"required": "The form is incomplete: reload the page."}
    )

    def __init__(self, *args, cards, session_is_full=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.cards = cards
        self.session_is_full = session_is_full

    def clean_card(self) -> Flashcard:
        pk = self.cleaned_data["card"]
        if isinstance(self.cards, list):
            card = next((card for card in self.cards if card.pk == pk), None)
        else:
            card = self.cards.filter(pk=pk).first()
        if card is None:
            raise forms.ValidationError(NOT_IN_DECK, code="invalid_choice")
        return card

    def clean(self):
        if self.session_is_full:
            raise forms.ValidationError(
                "You have rated %(limit)s cards without an account. Sign up to keep your progress and go on.",
                params={"limit": SESSION_RATINGS_LIMIT},
            )
        return super().clean()


class UndoForm(forms.Form):
    """Undo names the rating it takes back, so a stale page cannot undo a different one."""

    review = forms.IntegerField(error_messages={"required": "Which rating? Reload the page."})

    def __init__(self, *args, last_rating, **kwargs):
        super().__init__(*args, **kwargs)
        self.last_rating = last_rating

    def clean_review(self):
        review = self.cleaned_data["review"]
        if self.last_rating is None or self.last_rating.review != review:
            raise forms.ValidationError(
                "Nothing to undo: that rating was already undone or is no longer the last."
            )
        return review
