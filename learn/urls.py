from django.urls import path

from learn import views

app_name = "learn"
urlpatterns = [
    path("topics/<slug:slug>/cards/", views.cards, name="cards"),
    path("topics/<slug:slug>/cards/rate/", views.card_rate, name="card_rate"),
    path("topics/<slug:slug>/cards/undo/", views.card_undo, name="card_undo"),
    path("review/", views.review, name="review"),
    path("review/rate/", views.review_rate, name="review_rate"),
    path("review/undo/", views.review_undo, name="review_undo"),
]
