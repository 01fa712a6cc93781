"""The settings the test suite runs with (pyproject.toml's DJANGO_SETTINGS_MODULE; the web
servers and workers the tests start inherit it): the app's own, with one change.

Passwords are hashed with MD5 first, as Django's testing docs advise: every learner a test
creates would otherwise cost a 1,000,000-iteration PBKDF2 hash (about 0.3 s of CPU), and the
suite creates hundreds in each of CI's three passes. Django's default hashers (the app's own)
follow, so a hash made by them, such as the demo cohort's, still verifies. Never used outside
the tests.
"""

from django.conf import global_settings

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *global_settings.PASSWORD_HASHERS]
