from django.urls import path

from live_lab import views

app_name = "live_lab"
urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("lab/", views.catalog, name="catalog"),
    path("lab/runs/<id:run_id>/", views.run_detail, name="run_detail"),
    path("lab/runs/<id:run_id>/events", views.run_events, name="run_events"),
    path("lab/<slug:experiment_id>/", views.experiment_detail, name="experiment"),
]
