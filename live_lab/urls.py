from django.urls import path

from live_lab import views

app_name = "live_lab"
urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("lab/", views.catalog, name="catalog"),
    path("lab/runs/<id:run_id>/", views.run_detail, name="run_detail"),
    path("lab/runs/<id:run_id>/events", views.run_events, name="run_events"),
    path("lab/challenges/<slug:challenge_id>/", views.challenge_detail, name="challenge"),
    path("lab/challenges/<slug:challenge_id>/hint", views.challenge_hint, name="challenge_hint"),
    path("lab/attempts/<id:attempt_id>/", views.challenge_attempt, name="challenge_attempt"),
    path(
        "lab/attempts/<id:attempt_id>/events", views.challenge_attempt_events, name="challenge_attempt_events"
    ),
    path("lab/<slug:experiment_id>/", views.experiment_detail, name="experiment"),
]
