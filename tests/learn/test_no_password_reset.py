"""Password reset is not offered: the app sends no e-mail, so an instructor or admin sets a new
password instead (README, "Accounts"). Its addresses answer 404 and nothing tries to send mail."""

import socket

import pytest
from django.core import mail
from django.urls import NoReverseMatch, reverse

from tests.factories import make_learner

pytestmark = pytest.mark.django_db

RESET_URLS = [
    "/accounts/password_reset/",
    "/accounts/password_reset/done/",
    "/accounts/reset/MQ/set-password/",
    "/accounts/reset/done/",
]


@pytest.fixture
def smtp_listener(settings):
    """A socket where the SMTP backend would connect, to show that nothing ever does."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = listener.getsockname()
        settings.EMAIL_TIMEOUT = 1  # the listener never greets: a connection must not hang the test
        yield listener


def test_the_password_reset_pages_answer_404(client):
    for url in RESET_URLS:
        assert client.get(url).status_code == 404, url


def test_asking_for_a_reset_sends_no_mail_and_opens_no_smtp_connection(client, smtp_listener):
    user = make_learner("ada")
    user.email = "ada@example.com"
    user.save()

    response = client.post("/accounts/password_reset/", {"email": "ada@example.com"})

    assert response.status_code == 404
    assert mail.outbox == []
    with pytest.raises(TimeoutError):
        smtp_listener.accept()


def test_no_page_links_to_a_password_reset(client):
    with pytest.raises(NoReverseMatch):
        reverse("password_reset")
    pages = ["/accounts/login/", "/accounts/signup/", "/admin/login/", "/no-such-page/"]

    for url in pages:
        page = client.get(url).content.decode().lower()
        assert "reset" not in page, url
        assert "forgot" not in page, url


def test_a_learner_can_still_log_out_with_a_post(client):
    client.force_login(make_learner())

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert "Log in" in client.get("/").content.decode()


def test_password_change_pages_are_not_routed_either(client):
    """They would show the admin's look; staff change passwords in the admin (README)."""
    client.force_login(make_learner())

    assert client.get("/accounts/password_change/").status_code == 404
