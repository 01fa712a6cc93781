from django.urls import path

from quizzes import views

app_name = "quizzes"
urlpatterns = [
    path("topics/<slug:slug>/test/", views.test, name="test"),
    path("attempts/<id:attempt_id>/", views.attempt_detail, name="attempt_detail"),
    path("attempts/<id:attempt_id>/questions/<id:position>/", views.answer, name="answer"),
    path("attempts/<id:attempt_id>/submit/", views.submit, name="submit"),
    path("topics/<slug:slug>/practice/", views.practice, name="practice"),
    path("topics/<slug:slug>/practice/hint/", views.practice_hint, name="practice_hint"),
    path("topics/<slug:slug>/explain/", views.explain, name="explain"),
    path("explanations/<id:answer_id>/covered/", views.explain_mark, name="explain_mark"),
]
