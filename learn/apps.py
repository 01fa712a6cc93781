from django.apps import AppConfig


class LearnConfig(AppConfig):
    name = "learn"

    def ready(self):
        # Accounts are this app's: every process that can change a user (web, worker, manage.py)
        # marks its cached copy changed (config/users.py).
        from config.users import connect_signals

        connect_signals()
