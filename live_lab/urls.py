from django.urls import path

from live_lab import views

app_name = "live_lab"
urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
]
