from django.apps import AppConfig


class LiveLabConfig(AppConfig):
    name = "live_lab"
    verbose_name = "Live lab"
