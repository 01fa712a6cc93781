from django.urls import path

from instructor import views

app_name = "instructor"
urlpatterns = [
    path("instructor/", views.cohort_list, name="cohort_list"),
    path("instructor/cohorts/<id:cohort_id>/", views.cohort_dashboard, name="cohort_dashboard"),
    path(
        "instructor/cohorts/<id:cohort_id>/learners/<id:user_id>/",
        views.learner_detail,
        name="learner_detail",
    ),
    path("instructor/cohorts/<id:cohort_id>/items/", views.item_analysis_page, name="item_analysis"),
    path(
        "instructor/cohorts/<id:cohort_id>/misconceptions/",
        views.misconception_map_page,
        name="misconception_map",
    ),
    path(
        "instructor/cohorts/<id:cohort_id>/misconceptions/<slug:slug>/",
        views.misconception_holders,
        name="misconception_holders",
    ),
    path(
        "instructor/cohorts/<id:cohort_id>/misconceptions.csv",
        views.misconceptions_csv,
        name="misconceptions_csv",
    ),
    path("instructor/cohorts/<id:cohort_id>/grades.csv", views.grades_csv, name="grades_csv"),
    path("instructor/cohorts/<id:cohort_id>/items.csv", views.items_csv, name="items_csv"),
    path("join/", views.join_code, name="join_code"),
    path("join/<str:code>/", views.join, name="join"),
]
