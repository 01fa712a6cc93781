import math

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from config.client_address import client_address
from config.htmx import page_or_partial
from learn.forms import RateForm, SignupForm, UndoForm, signup_limit_error
from learn.queries import (
    INSTRUCTOR_NAV_FLAG,
    LastRating,
    get_study_topic,
    is_instructor,
    last_rating_for,
    ratings_today,
    review_deck,
    session_is_full,
    study_cards,
    topic_cards,
    topic_deck,
)
from learn.services import (
    NothingToUndo,
    SignupLimitReached,
    adopt_session_progress,
    create_account,
    record_rating,
    undo_last_rating,
)

# A new account is logged in by the model backend (django-axes' backend only counts failures),
# the one whose users are read through Redis in Redis mode (config/users.py).
MODEL_BACKEND = "config.users.ModelBackendWithCachedUsers"


def signup(request):
    address = client_address(request)
    if request.method == "POST":
        form = SignupForm(request.POST, address=address)
        if form.is_valid():
            try:
                user = create_account(
                    username=form.cleaned_data["username"],
                    password=form.cleaned_data["password1"],
                    address=address,
                )
            except SignupLimitReached:
                # Another signup from this address took the last place since the form's check.
                form.add_error(None, signup_limit_error())
            else:
                login(request, user, backend=MODEL_BACKEND)
                # Ratings made before signing up become the new account's schedule.
                adopt_session_progress(request.session, user)
                return redirect(safe_next(request) or "dashboard:topic_list")
    else:
        form = SignupForm(address=address)
    return render(request, "registration/signup.html", {"form": form, "next": safe_next(request)})


class LoginView(auth_views.LoginView):
    """Django's login, keeping the card ratings made before logging in.

    Failed logins are counted by django-axes (settings, "Login and signup throttling"); when
    one username from one address is locked out, axes answers with `login_locked_out` instead.
    """

    def form_valid(self, form):
        response = super().form_valid(form)
        adopt_session_progress(self.request.session, self.request.user)
        if is_instructor(self.request.user):
            # The navigation shows its "Instructor" link from this flag (instructor/views.py).
            self.request.session[INSTRUCTOR_NAV_FLAG] = True
        return response


def login_locked_out(request, *args):
    """The login page saying why the login was refused and for how long (status 429).

    django-axes calls this (AXES_LOCKOUT_CALLABLE) in place of the response of a login that was
    refused or that reached the failure limit. It passes the original response only on its sync
    path, so that argument is not used. The form is not bound: validating it again would count
    one more failure. Each refused attempt starts the cool-off again
    (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT), so "in N minutes" is exact from now.
    """
    minutes = math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    context = {
        "form": form,
        "next": safe_next(request),
        "lockout_message": (
            "Too many failed attempts for this account from your address; "
            f"try again in {minutes} minute{pluralize(minutes)}."
        ),
    }
    return render(request, "registration/login.html", context, status=429)


def safe_next(request) -> str:
    """The ?next= target when it stays on this site, else ""."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return ""


# --- Flashcards: one card at a time, on a topic's cards page or in the review queue --------
# Each screen has a page (GET), a rating POST and an undo POST. Without htmx the POSTs redirect
# back to the page; with htmx they answer with the page's card-panel partial.


def cards(request, slug):
    topic = get_study_topic(slug)
    return render_cards(request, topic)


@require_POST
def card_rate(request, slug):
    topic = get_study_topic(slug)
    form = rate_form(request, cards=topic_cards(topic))
    stored = None
    if form.is_valid():
        stored = rate_from_form(request, form)
        if not request.htmx:
            return redirect("learn:cards", slug=topic.slug)
        form = None
    return render_cards(request, topic, form=form, last_rating=stored)


@require_POST
def card_undo(request, slug):
    topic = get_study_topic(slug)
    form = undo_from_form(request)
    if form is None and not request.htmx:
        return redirect("learn:cards", slug=topic.slug)
    return render_cards(request, topic, form=form)


def review(request):
    return render_review(request)


@require_POST
def review_rate(request):
    form = rate_form(request, cards=study_cards())
    stored = None
    if form.is_valid():
        stored = rate_from_form(request, form)
        if not request.htmx:
            return redirect("learn:review")
        form = None
    return render_review(request, form=form, last_rating=stored)


@require_POST
def review_undo(request):
    form = undo_from_form(request)
    if form is None and not request.htmx:
        return redirect("learn:review")
    return render_review(request, form=form)


def rate_form(request, *, cards) -> RateForm:
    return RateForm(request.POST, cards=cards, session_is_full=session_is_full(request.user, request.session))


def rate_from_form(request, form: RateForm) -> LastRating | None:
    """Record the rating; a learner's, as the Undo button takes it back, so that the deck shown
    next need not read it (None: nothing stored, or a visitor's, read from the session)."""
    log = record_rating(
        request.user,
        request.session,
        flashcard=form.cleaned_data["card"],
        rating=form.cleaned_data["rating"],
        reviews_seen=form.cleaned_data["reviews"],
    )
    return None if log is None else LastRating.of(log)


def undo_from_form(request) -> UndoForm | None:
    """Undo the rating the form names; the form with its errors when that is not possible."""
    form = UndoForm(request.POST, last_rating=last_rating_for(request.user, request.session))
    if form.is_valid():
        try:
            undo_last_rating(request.user, request.session, review=form.cleaned_data["review"])
        except NothingToUndo:
            # A second click of Undo that raced the first one past the form's check.
            form.add_error("review", "Nothing to undo: that rating was already undone.")
            return form
        return None
    return form


def render_cards(request, topic, *, form=None, last_rating=None):
    deck = topic_deck(request.user, request.session, topic, last_rating=last_rating)
    context = {
        "topic": topic,
        "screen": "topic",
        "page_url": reverse("learn:cards", args=[topic.slug]),
        "rate_url": reverse("learn:card_rate", args=[topic.slug]),
        "undo_url": reverse("learn:card_undo", args=[topic.slug]),
    }
    return render_deck(request, "learn/cards.html", deck, form, context)


def render_review(request, *, form=None, last_rating=None):
    deck = review_deck(request.user, request.session, last_rating=last_rating)
    context = {
        "screen": "review",
        "page_url": reverse("learn:review"),
        "rate_url": reverse("learn:review_rate"),
        "undo_url": reverse("learn:review_undo"),
    }
    return render_deck(request, "learn/review.html", deck, form, context)


def render_deck(request, template, deck, form, context):
    """The screen, or its card panel for htmx. A form with errors: 200 for htmx, 400 otherwise."""
    has_errors = form is not None and bool(form.errors)
    revealed = has_errors or (
        deck.current is not None and request.GET.get("reveal") == deck.current.flashcard.slug
    )
    template = page_or_partial(request, template, "card-panel")
    context |= {"deck": deck, "form": form, "revealed": revealed, "is_fragment": "#" in template}
    if deck.current is None:  # the deck is done: sum up the day's ratings
        context["today"] = ratings_today(request.user, request.session, topic=context.get("topic"))
    return render(request, template, context, status=400 if has_errors and not request.htmx else 200)
