"""The settings the test suite runs with (pyproject.toml's DJANGO_SETTINGS_MODULE; the web
servers and workers the tests start inherit it): the app's own, with one change.

Passwords are hashed with MD5 first, as Django's testing docs advise: every learner a test
creates would otherwise cost an Argon2id hash (config/passwords.py), and the suite creates
hundreds in each of CI's three passes. The app's own hashers follow, so a hash made by them,
such as the demo cohort's, still verifies. Never used outside the tests.
"""

from config import settings as app_settings
from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *app_settings.PASSWORD_HASHERS]
