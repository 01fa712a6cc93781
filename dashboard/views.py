"""The roof: pages that read every app below them. The home page with each topic's learning
path, a topic's lesson page, the dashboard, the misconception pages, and the account pages
(login marks an instructor's session for the navigation)."""

import math

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from config.client_address import client_address
from dashboard.charts import forecast_chart, score_chart
from dashboard.path import continue_step, learning_paths
from dashboard.progress import (
    activity_days,
    card_schedule,
    certainty_counts,
    recent_scores,
    streak,
    topics_with_progress,
    true_retention,
)
from dashboard.queries import (
    claims_cited_by,
    get_misconception_page,
    get_topic_page,
    misconceptions_by_topic,
    misconceptions_tested_in,
)
from instructor.queries import INSTRUCTOR_NAV_FLAG, is_instructor
from learn.curriculum.claims import installed_celery_version
from learn.forms import SignupForm, signup_limit_error
from learn.services import SignupLimitReached, adopt_session_progress, create_account
from quizzes.certainty import calibration, score_from_counts
from quizzes.misconceptions import open_misconceptions_for

# A new account is logged in by the model backend (django-axes' backend only counts failures).
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def topic_list(request):
    topics = topics_with_progress(request.user)
    paths = learning_paths(request.user, topics)
    context = {"paths": paths, "next": continue_step(paths)}
    return render(request, "dashboard/topic_list.html", context)


@login_required
def dashboard(request):
    now = timezone.now()
    topics = topics_with_progress(request.user, now=now)
    scores = recent_scores(request.user)
    schedule = card_schedule(request.user, now=now)
    context = {
        "topics": topics,
        "next": continue_step(learning_paths(request.user, topics)),
        "streak": streak(activity_days(request.user), today=now.date()),
        "scores": scores,
        "chart": score_chart(scores),
        "retention": true_retention(request.user, now=now),
        "schedule": schedule,
        "forecast_chart": forecast_chart(schedule.forecast),
        "misconceptions": open_misconceptions_for(request.user),
    }
    counts = certainty_counts(request.user)
    context |= {"certainty_score": score_from_counts(counts), "calibration": calibration(counts)}
    return render(request, "dashboard/dashboard.html", context)


def topic_detail(request, slug):
    topic = get_topic_page(slug)
    context = {
        "topic": topic,
        "path": learning_paths(request.user, [topic])[0],
        "claims": claims_cited_by(topic),
        "misconceptions": misconceptions_tested_in(topic),
        "celery_version": installed_celery_version(),
    }
    return render(request, "dashboard/topic_detail.html", context)


def misconception_list(request):
    return render(request, "dashboard/misconception_list.html", {"groups": misconceptions_by_topic()})


def misconception_detail(request, slug):
    misconception = get_misconception_page(slug)
    context = {"misconception": misconception, "celery_version": installed_celery_version()}
    return render(request, "dashboard/misconception_detail.html", context)


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
