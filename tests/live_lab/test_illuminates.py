"""An experiment is linked from the cheat-sheet sections and questions it illuminates (the
content's `lab:` lines), and its page links back to them by title."""

from io import StringIO

import pytest
from django.core.management import call_command

from learn.models import ExperimentLink

pytestmark = pytest.mark.django_db


def test_an_experiment_and_the_sections_and_questions_it_illuminates_link_to_each_other(client):
    call_command("content", "sync", stdout=StringIO())

    topic_page = client.get("/topics/asyncresult-api/").content.decode()
    assert "lab: forget" not in topic_page
    assert "<strong>See it live in the lab:</strong>" in topic_page
    assert (
        '<a href="/lab/revoke-running/" rel="noopener noreferrer">'
        "Revoking a running task, without terminate</a>" in topic_page
    )

    lab_page = client.get("/lab/revoke-queued/").content.decode()
    section = ExperimentLink.objects.get(
        experiment="revoke-queued", kind="section", topic__slug="task-lifecycle-and-states"
    )
    assert section.title == "Who writes which state"
    assert '<a href="/topics/task-lifecycle-and-states/#sheet-who-writes-which-state">' in lab_page
    questions = ExperimentLink.objects.filter(experiment="revoke-queued", kind="question")
    assert questions.count() == 4
    for question in questions:
        assert f"/practice/?q={question.target}" in lab_page
        assert f">{question.target}<" not in lab_page  # a title, never the bare id
    # A question's first paragraph, its markdown rendered.
    assert "behind slow tasks, and a view calls <code>result.revoke()</code>. Which process" in lab_page

    links = set(ExperimentLink.objects.values_list("pk", "experiment", "kind", "target", "title"))
    call_command("content", "sync", stdout=StringIO())
    assert set(ExperimentLink.objects.values_list("pk", "experiment", "kind", "target", "title")) == links
