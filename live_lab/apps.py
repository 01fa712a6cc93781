from django.apps import AppConfig


class LiveLabConfig(AppConfig):
    name = "live_lab"
    verbose_name = "Live lab"

    def ready(self):
        # Connect lane 2's Celery signal handlers in the web process and in every worker.
        from live_lab import worker_signals  # noqa: F401
