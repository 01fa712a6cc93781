from django.contrib import admin
from django.urls import include, path

from learn.views import signup

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/signup/", signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("live_lab.urls")),
    path("", include("quizzes.urls")),
    path("", include("learn.urls")),
]
