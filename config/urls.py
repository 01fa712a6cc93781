from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, register_converter

from config.converters import DatabaseIdConverter
from learn.views import LoginView, signup

# Before the includes below, whose urls.py use it for every id.
register_converter(DatabaseIdConverter, "id")

# Accounts: only what the app uses. Django's `auth.urls` also routed password reset, which needs
# e-mail, and the app sends none: an instructor or admin sets a new password instead (README).
urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/signup/", signup, name="signup"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("instructor.urls")),
    path("", include("live_lab.urls")),
    path("", include("quizzes.urls")),
    path("", include("learn.urls")),
    path("", include("dashboard.urls")),
]
