from django.apps import AppConfig


def experiment_titles() -> dict[str, str]:
    """{experiment id: title}: what a content `lab:` field may name."""
    from live_lab.experiments import EXPERIMENTS  # the catalog imports the tasks: when asked

    return {experiment.id: experiment.title for experiment in EXPERIMENTS.values()}


class LiveLabConfig(AppConfig):
    name = "live_lab"
    verbose_name = "Live lab"

    def ready(self):
        # Connect lane 2's Celery signal handlers in the web process and in every worker.
        # The course's content check and the quizzes' links know the catalog from this only
        # (learn/curriculum/registry.py): neither imports the lab.
        from learn.curriculum.registry import register_lab_catalog
        from live_lab import worker_signals  # noqa: F401

        register_lab_catalog(experiment_titles)
