from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from instructor.services import grant_instructor
from learn.models import INSTRUCTORS_GROUP


class Command(BaseCommand):
    help = f'Give an existing account the instructor role (the "{INSTRUCTORS_GROUP}" group).'

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(
                f"No account is called {username!r}. Check the spelling, or create the account first "
                "(sign up at /accounts/signup/, or `python manage.py createsuperuser`)."
            )
        if grant_instructor(user):
            self.stdout.write(f"{username} is now an instructor: their cohorts are at /instructor/.")
        else:
            self.stdout.write(f"{username} was already an instructor: nothing changed.")
