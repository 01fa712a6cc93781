from django.urls import path

from dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("", views.topic_list, name="topic_list"),
    path("topics/<slug:slug>/", views.topic_detail, name="topic_detail"),
    path("misconceptions/", views.misconception_list, name="misconception_list"),
    path("misconceptions/<slug:slug>/", views.misconception_detail, name="misconception_detail"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
