from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from learn.curriculum.check import load_curriculum, totals_report
from learn.curriculum.render import store_rendered_texts
from learn.curriculum.sync import ContentError, sync_curriculum


class Command(BaseCommand):
    help = "Check the markdown curriculum, or load it into the database (content/README.md)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["check", "sync"])
        parser.add_argument("path", nargs="?", help="a topic file or the content folder (default: content/)")

    def handle(self, *args, action, path, **options):
        path = Path(path) if path else settings.CONTENT_DIR
        if action == "check":
            curriculum = load_curriculum(path)
            if not curriculum.is_valid:
                self.fail(curriculum.problems)
            for line in totals_report(curriculum):
                self.stdout.write(line)
            return
        try:
            report = sync_curriculum(path)
        except ContentError as error:
            self.fail(error.problems, written="Nothing was written. ")
        store_rendered_texts()  # the pages' HTML, rendered once here (learn/curriculum/render.py)
        self.stdout.write(report.summary())

    def fail(self, problems, written=""):
        for problem in problems:
            self.stderr.write(str(problem))
        raise CommandError(f"{written}Fix the {len(problems)} problem(s) above and run again.")
