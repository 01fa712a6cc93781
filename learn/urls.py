from django.urls import path

from learn import views

app_name = "learn"
urlpatterns = [
    path("", views.topic_list, name="topic_list"),
    path("topics/<slug:slug>/", views.topic_detail, name="topic_detail"),
    path("topics/<slug:slug>/cards/", views.cards, name="cards"),
    path("topics/<slug:slug>/cards/rate/", views.card_rate, name="card_rate"),
    path("topics/<slug:slug>/cards/undo/", views.card_undo, name="card_undo"),
    path("misconceptions/", views.misconception_list, name="misconception_list"),
    path("misconceptions/<slug:slug>/", views.misconception_detail, name="misconception_detail"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("review/", views.review, name="review"),
    path("review/rate/", views.review_rate, name="review_rate"),
    path("review/undo/", views.review_undo, name="review_undo"),
]
