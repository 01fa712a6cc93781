"""The cohort dashboard's "Lab challenges" section: who tried which challenge, hints, passes."""

from django.utils import timezone

from live_lab.models import ChallengeAttempt, ChallengeHint
from tests.factories import make_learner
from tests.instructor.factories import make_cohort


def attempt(learner, status: str) -> ChallengeAttempt:
    return ChallengeAttempt.objects.create(
        owner=learner, challenge="worker-death", size=4, status=status, finished_at=timezone.now()
    )


def test_the_dashboard_shows_each_learners_attempts_hints_and_pass_of_a_challenge(client, instructor):
    ada, bob, cy, outsider = (make_learner(name) for name in ("ada", "bob", "cy", "outsider"))
    cohort = make_cohort(instructor, learners=[ada, bob, cy])
    attempt(ada, "failed")
    attempt(ada, "not_run")  # no sandbox was free: not an attempt at the challenge
    attempt(ada, "passed")
    ChallengeHint.objects.create(owner=ada, challenge="worker-death", level=1)
    attempt(bob, "failed")
    attempt(outsider, "passed")

    page = client.get(f"/instructor/cohorts/{cohort.pk}/").content.decode()
    section = page[page.index('id="challenges"') :]

    rows = [row for row in section.split("<tr>")[2:]]
    assert len(rows) == 2, "ada and bob; cy never tried, the outsider is not in the cohort"
    assert ">ada</a>" in rows[0]
    assert "<td>Exactly once when the worker dies</td><td>2</td><td>1</td><td>Passed " in rows[0]
    assert ">bob</a>" in rows[1]
    assert "<td>1</td><td>0</td><td>Not yet</td>" in rows[1]
    assert "outsider" not in section
