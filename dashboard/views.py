"""The roof: pages that read every app below them. The home page with each topic's learning
path, a topic's lesson page, the dashboard and the misconception pages."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

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
    get_misconception_page,
    get_topic_page,
    misconceptions_by_topic,
)
from learn.curriculum.claims import installed_celery_version
from quizzes.certainty import calibration, score_from_counts
from quizzes.misconceptions import open_misconceptions_for


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
    page = get_topic_page(slug)
    context = {
        "topic": page.topic,
        "path": learning_paths(request.user, [page.topic])[0],
        "claims": page.claims,
        "misconceptions": page.misconceptions,
        "celery_version": installed_celery_version(),
    }
    return render(request, "dashboard/topic_detail.html", context)


def misconception_list(request):
    return render(request, "dashboard/misconception_list.html", {"groups": misconceptions_by_topic()})


def misconception_detail(request, slug):
    misconception = get_misconception_page(slug)
    context = {"misconception": misconception, "celery_version": installed_celery_version()}
    return render(request, "dashboard/misconception_detail.html", context)
