"""The 404 and 500 pages a visitor sees with DEBUG off: what happened, and where to go next."""

import pytest
from django.db import DatabaseError

from tests.factories import make_learner

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.urls")]  # with /crash/, which fails


@pytest.fixture
def production_client(client, settings):
    settings.DEBUG = False
    client.raise_request_exception = False  # answer as a server would: with the 500 page
    return client


def test_an_unknown_address_shows_the_friendly_404_page_with_the_sites_navigation(production_client):
    response = production_client.get("/no-such-page/")

    page = response.content.decode()
    assert response.status_code == 404
    assert "There is nothing at this address" in page
    assert '<a href="/">The topics</a>' in page
    assert '<a href="/lab/">The lab</a>' in page
    assert '<a href="/accounts/login/">Log in</a>' in page
    assert 'class="site-header"' in page  # base.html's look


def test_a_signed_in_learner_gets_the_404_page_with_a_link_to_their_dashboard(production_client):
    production_client.force_login(make_learner())

    response = production_client.get("/lab/runs/9223372036854775808/")

    page = response.content.decode()
    assert response.status_code == 404
    assert "it belongs to another account" in page
    assert '<a href="/dashboard/">Your dashboard</a>' in page


def test_a_crash_shows_the_500_page_saying_what_to_do_next(production_client):
    response = production_client.get("/crash/")

    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in page
    assert "It is not something you did" in page
    assert '<a href="/">the topics</a>' in page
    assert '<a href="/lab/">the lab</a>' in page
    assert '<link rel="stylesheet" href="/static/css/site.css">' in page
    assert '<a class="skip-link" href="#main">Skip to content</a>' in page, "as on every other page"


def database_down(request):
    raise DatabaseError("the database is down")


def test_the_500_page_shows_even_when_the_database_and_context_processors_fail(
    production_client, settings, django_assert_num_queries
):
    (engine,) = settings.TEMPLATES
    options = {**engine["OPTIONS"], "context_processors": [f"{__name__}.database_down"]}
    settings.TEMPLATES = [{**engine, "OPTIONS": options}]

    with django_assert_num_queries(0):
        response = production_client.get("/crash/")

    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()


def test_the_site_stylesheet_the_500_page_links_to_is_served(client):
    assert client.get("/static/css/site.css").status_code == 200
