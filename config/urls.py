from django.contrib import admin
from django.urls import include, path

from learn.views import LoginView, signup

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
