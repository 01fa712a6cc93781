"""Sign up, log in and log out with Django's auth."""

from django.contrib.auth import get_user_model

from tests.factories import make_learner


def test_signing_up_creates_the_account_and_logs_in(client, db):
    response = client.post(
        "/accounts/signup/",
        {"username": "ada", "password1": "celery-results-42", "password2": "celery-results-42"},
        follow=True,
    )

    assert get_user_model().objects.filter(username="ada").exists()
    assert response.context["user"].username == "ada"
    assert "Log out" in response.content.decode()


def test_a_signup_with_mismatched_passwords_shows_a_form_error(client, db):
    response = client.post(
        "/accounts/signup/",
        {"username": "ada", "password1": "celery-results-42", "password2": "other-password-42"},
    )

    assert response.status_code == 200
    assert "The two password fields didn’t match." in response.content.decode()
    assert not get_user_model().objects.exists()


def test_signup_does_not_redirect_off_site(client, db):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "ada",
            "password1": "celery-results-42",
            "password2": "celery-results-42",
            "next": "https://evil.example/",
        },
    )

    assert response["Location"] == "/"


def test_logging_in_and_out(client, db):
    make_learner("grace")

    client.post("/accounts/login/", {"username": "grace", "password": "pw"})
    assert "grace" in client.get("/").content.decode()
    client.post("/accounts/logout/")
    assert "Log in" in client.get("/").content.decode()
