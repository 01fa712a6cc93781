from django.urls import path

from learn import views

app_name = "learn"
urlpatterns = [
    path("", views.topic_list, name="topic_list"),
    path("topics/<slug:slug>/", views.topic_detail, name="topic_detail"),
]
