"""The site's routes plus a stand-in `live_lab:experiment`, for the "see it live" link."""

from django.http import HttpResponse
from django.urls import include, path

from learn.views import signup


def experiment(request, slug):
    return HttpResponse(slug)


lab_patterns = ([path("lab/<slug:slug>/", experiment, name="experiment")], "live_lab")

urlpatterns = [
    path("accounts/signup/", signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include(lab_patterns)),
    path("", include("quizzes.urls")),
    path("", include("learn.urls")),
]
