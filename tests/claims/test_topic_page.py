"""The topic page names the Celery version the claims were checked against, and its claims."""

import importlib.metadata
from io import StringIO

import pytest
from django.core.management import call_command

from learn.models import Claim

STATES_TOPIC = "/topics/task-lifecycle-and-states/"


@pytest.fixture
def curriculum(db):
    call_command("content", "sync", stdout=StringIO())


def test_the_topic_page_says_which_celery_version_it_was_verified_against(client, curriculum):
    page = client.get(STATES_TOPIC).content.decode()

    assert f"Verified against Celery {importlib.metadata.version('celery')}" in page


def test_the_topic_page_lists_the_claims_its_items_cite_with_since_notes(client, curriculum):
    page = client.get(STATES_TOPIC).content.decode()

    assert 'id="claim-task-revoked-while-queued-reads-revoked-at-once"' in page
    assert "since Celery 5.6.2" in page
    assert "<code>celery.states.READY_STATES</code> is exactly SUCCESS, FAILURE and REVOKED" in page
    assert "tests/claims/test_states.py::test_ready_states_are_success_failure_and_revoked" in page
    # A claim only other topics cite is not listed here.
    assert 'id="claim-json-results-keep-datetimes-and-decimals"' not in page


def test_an_archived_claim_is_not_listed(client, curriculum):
    Claim.objects.filter(slug="no-running-or-completed-state").update(archived_at="2026-01-01T00:00Z")

    page = client.get(STATES_TOPIC).content.decode()

    assert 'id="claim-no-running-or-completed-state"' not in page
    assert 'id="claim-ready-states-are-success-failure-revoked"' in page
