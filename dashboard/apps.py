from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The roof: pages that read the course, the cards, the quizzes and the lab together."""

    name = "dashboard"
