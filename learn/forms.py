from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):
    """Username and password, nothing else: the app needs no e-mail address."""
