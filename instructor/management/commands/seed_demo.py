from django.core.management.base import BaseCommand, CommandError

from instructor.demo import DEMO_PASSWORD, NoCurriculum, seed_demo_cohort


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Create a demo cohort: learners with realistic tests, card reviews and lab runs (demos, bench/)."

    def add_arguments(self, parser):
        parser.add_argument("--learners", type=positive, default=50, help="how many learners (default 50)")
        parser.add_argument(
            "--tests", type=positive, default=10, help="submitted tests per learner (default 10)"
        )
        parser.add_argument(
            "--instructor", default="demo-instructor", help="owner of the cohort (created if missing)"
        )
        parser.add_argument(
            "--seed", type=int, default=None, help="random seed, for the same data every time"
        )

    def handle(self, *args, learners, tests, instructor, seed, **options):
        try:
            report = seed_demo_cohort(
                learners=learners, instructor=instructor, tests_per_learner=tests, seed=seed
            )
        except NoCurriculum:
            raise CommandError(
                "No topic has questions yet: run `python manage.py content sync` first, then seed_demo again."
            ) from None
        self.stdout.write(
            f"Created {report.cohort.name!r} (/instructor/cohorts/{report.cohort.pk}/, join code "
            f"{report.cohort.join_code}) in {report.seconds:.1f} s: {report.learners} learners, "
            f"{report.attempts} tests ({report.responses} answers), {report.reviews} card ratings, "
            f"{report.lab_runs} lab runs. Instructor {report.instructor!r} (password {DEMO_PASSWORD!r} if "
            "it was created now); learners demo<cohort>-0001… share that password."
        )
        if report.planted:
            beliefs = ", ".join(f"{slug} ({count} learners)" for slug, count in report.planted.items())
            self.stdout.write(f"Planted misconceptions, for the misconception map: {beliefs}.")
