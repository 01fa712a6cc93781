from django.contrib import admin
from django.urls import include, path, register_converter

from config.converters import DatabaseIdConverter
from learn.views import LoginView, signup

# Before the includes below, whose urls.py use it for every id.
register_converter(DatabaseIdConverter, "id")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/signup/", signup, name="signup"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("instructor.urls")),
    path("", include("live_lab.urls")),
    path("", include("quizzes.urls")),
    path("", include("learn.urls")),
]
