"""Every URL with an id answers 404, 403 or 302, never 500, whatever id it is given.

The sweep walks the whole URL conf (the admin's too), so a URL added later is covered without
editing this file. For every route with a parameter it builds URLs with out-of-range, malformed,
zero and negative ids, unknown slugs and codes, and other people's objects, and requests each
as an anonymous visitor, a learner, an instructor and a staff superuser, with GET and POST.

What each of them must get:
- a URL that does not resolve (an id too large for the database, "abc", "-1"): 404, for all;
- the admin: its login page (302) for everyone but staff; staff are sent back to the list (302)
  or get 404 for an object that is not there;
- an anonymous visitor elsewhere: 404, or a 302 to the login page where the page needs an account;
- a learner under /instructor/: 403 (they may know the page exists but lack the role);
- otherwise 404: nobody sees another person's object, or an object that does not exist;
- and 405 for a method the view does not take (its Allow header says which it does).

The sweep never requests a URL whose every id is the requester's own, which would rightly
answer 200. That also keeps it off an existing own run's event stream (lab/runs/<id>/events),
which streams for up to two minutes: the one case it must skip. The stream's other cases
(another learner's run, an unknown or out-of-range id) are swept like the rest.
"""

import re
import uuid
from dataclasses import dataclass
from itertools import product
from urllib.parse import unquote

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLResolver, get_resolver, resolve
from django.urls.converters import IntConverter
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RoutePattern

from config.converters import DatabaseIdConverter
from live_lab.experiments import EXPERIMENTS
from live_lab.models import LabRun
from quizzes.services import record_explanation, start_attempt
from tests.factories import make_learner
from tests.instructor.factories import make_cohort, make_instructor
from tests.quizzes.factories import make_prompt, make_topic_with_questions

pytestmark = pytest.mark.django_db

BIG = str(2**63)  # one more than the largest signed 64-bit integer
BAD_IDS = [BIG, str(2**64), "9" * 30, "abc", "1.5", "0x10", "%00", "0", "-1", "-" + BIG]
BAD_NAMES = ["no-such-thing", "%00", "%E2%9C%93", "x" * 300, BIG]
ID_CONVERTERS = (IntConverter, DatabaseIdConverter)

# Parameters that name nobody's object: a join code and the course's slugs are shared, and a
# question's position belongs to the attempt beside it. They get unknown values, never "another
# person's". A name neither here nor in the world's objects is filled with "1" (the sweep still
# tries every bad value on it); add its objects to `world` to test its other-user case too.
NOT_OWNED = {"slug", "experiment_id", "code", "position"}


@dataclass
class Route:
    route: str  # "lab/runs/<id:run_id>/events"
    converters: dict  # parameter name -> converter

    def url(self, values: dict[str, str]) -> str:
        return "/" + re.sub(r"<(?:[^>:]+:)?([^>]+)>", lambda m: values[m.group(1)], self.route)


def routes(patterns=None, prefix="", converters=None) -> list[Route]:
    """Every route of the URL conf that takes a parameter, with the prefixes of its includes.
    Regex routes (the admin's app index and catch-all only, see the test below) are left out."""
    patterns = get_resolver().url_patterns if patterns is None else patterns
    found = []
    for entry in patterns:
        if not isinstance(entry.pattern, RoutePattern):
            continue
        route = prefix + str(entry.pattern)
        with_converters = {**(converters or {}), **entry.pattern.converters}
        if isinstance(entry, URLResolver):
            found += routes(entry.url_patterns, route, with_converters)
        elif with_converters:
            found.append(Route(route, with_converters))
    return found


@dataclass
class World:
    users: dict  # role -> user (None for anonymous)
    own: dict  # role -> {parameter name: value that user owns}
    others: dict  # parameter name -> another person's object


@pytest.fixture
def world(db) -> World:
    topic = make_topic_with_questions(2, 2, 2, slug="sweep-topic")
    prompt = make_prompt(topic)

    def learner_with_objects(name):
        learner = make_learner(name)
        run = LabRun.objects.create(
            owner=learner, experiment="success", task_id=str(uuid.uuid4()), prediction=["SUCCESS"]
        )
        attempt = start_attempt(topic, learner=learner)
        answer = record_explanation(prompt, learner=learner, text="the backend", concepts=[])
        return learner, {"run_id": run.pk, "attempt_id": attempt.pk, "answer_id": answer.pk, "position": 1}

    ada, ada_objects = learner_with_objects("ada")
    bob, bob_objects = learner_with_objects("bob")
    teacher, other_teacher = make_instructor("teacher"), make_instructor("other-teacher")
    admin = get_user_model().objects.create_superuser("admin", password="pw")
    ours = make_cohort(teacher, name="Ours", learners=[ada])
    admins = make_cohort(admin, name="The admin's", learners=[ada])
    theirs = make_cohort(other_teacher, name="Theirs", learners=[bob])
    public = {"slug": topic.slug, "experiment_id": next(iter(EXPERIMENTS)), "code": theirs.join_code}
    others = {**bob_objects, "cohort_id": theirs.pk, "user_id": bob.pk}
    return World(
        users={"anonymous": None, "learner": ada, "instructor": teacher, "staff": admin},
        own={
            "anonymous": {**public, **others},  # everything is someone else's
            "learner": {**public, **ada_objects},
            "instructor": {**public, "cohort_id": ours.pk, "user_id": ada.pk},
            "staff": {**public, "cohort_id": admins.pk, "user_id": ada.pk},
        },
        others=others,
    )


def cases(route: Route, own: dict, others: dict) -> list[tuple[str, str]]:
    """(what, url): each parameter in turn given every bad value, then another person's object,
    the other parameters keeping the requester's own values (so that the lookup of the bad one
    is reached: an out-of-range learner id in the instructor's own cohort was the 500)."""
    names = list(route.converters)
    filler = {name: str(own.get(name, others.get(name, "1"))) for name in names}
    found = []
    for name in names:
        is_id = isinstance(route.converters[name], ID_CONVERTERS)
        for value in BAD_IDS if is_id else BAD_NAMES:
            found.append((f"{name}={value[:20]}", route.url({**filler, name: value})))
        if name not in NOT_OWNED and (is_id or name in others):
            found.append((f"another person's {name}", route.url({**filler, name: str(others.get(name, 1))})))
    if len([name for name in names if name not in NOT_OWNED]) > 1:
        theirs = {name: str(others.get(name, filler[name])) for name in names}
        found.append(("all another person's", route.url(theirs)))
    return found


def resolves(url: str) -> bool:
    try:
        resolve(unquote(url))
    except Resolver404:
        return False
    return True


def is_login_redirect(response, login: str = "/accounts/login/") -> bool:
    return response.status_code == 302 and response["Location"].startswith(f"{login}?next=")


def is_right(response, url: str, role: str, method: str) -> bool:
    status = response.status_code
    if status == 405:
        return method not in response["Allow"]
    if not resolves(url):
        return status == 404
    if url.startswith("/admin/"):
        if role == "staff":
            return status in (302, 404)
        return is_login_redirect(response, login="/admin/login/")
    if role == "anonymous":
        return status == 404 or is_login_redirect(response)
    if role == "learner" and url.startswith("/instructor/"):
        return status == 403
    return status == 404


def test_every_url_with_an_id_answers_404_403_or_302_and_never_500(client, world):
    client.raise_request_exception = False  # a crash is a 500 to report, not an exception here
    wrong = []
    swept = 0
    for role, user in world.users.items():
        client.logout()
        if user is not None:
            client.force_login(user)
        for route, method in product(routes(), ["get", "post"]):
            for what, url in cases(route, world.own[role], world.others):
                response = getattr(client, method)(url)
                swept += 1
                if not is_right(response, url, role, method):
                    wrong.append(f"{role} {method.upper()} {url} ({what}): {response.status_code}")
    assert not wrong, f"{len(wrong)} of {swept} answers are wrong:\n" + "\n".join(wrong[:60])


def test_the_sweep_covers_every_url_of_the_apps_with_an_id():
    swept = {route.route for route in routes()}

    for expected in [
        "instructor/cohorts/<id:cohort_id>/learners/<id:user_id>/",
        "lab/runs/<id:run_id>/events",
        "lab/<slug:experiment_id>/",
        "attempts/<id:attempt_id>/questions/<id:position>/",
        "topics/<slug:slug>/cards/rate/",
        "join/<str:code>/",
        "admin/auth/user/<path:object_id>/change/",
    ]:
        assert expected in swept


def test_every_route_outside_the_admin_is_one_the_sweep_can_build():
    """The sweep builds URLs from path() routes only; a regex route elsewhere would escape it."""

    def regex_routes(patterns, prefix=""):
        for entry in patterns:
            if getattr(entry, "app_name", None) == "admin" or getattr(entry, "namespace", None) == "admin":
                continue
            if not isinstance(entry.pattern, RoutePattern):
                yield prefix + str(entry.pattern)
            elif isinstance(entry, URLResolver):
                yield from regex_routes(entry.url_patterns, prefix + str(entry.pattern))

    assert list(regex_routes(get_resolver().url_patterns)) == []


def test_every_integer_in_the_apps_urls_is_a_database_id_that_refuses_what_does_not_fit():
    """`<int:...>` would let 2**63 through to a lookup; the apps use `<id:...>` (config/converters.py)."""
    ints = [
        route.route
        for route in routes()
        if not route.route.startswith("admin/")
        and any(type(converter) is IntConverter for converter in route.converters.values())
    ]

    assert ints == []


def test_an_instructor_gets_404_not_500_for_an_out_of_range_learner_id_in_their_own_cohort(client, world):
    client.force_login(world.users["instructor"])
    cohort_id = world.own["instructor"]["cohort_id"]

    response = client.get(f"/instructor/cohorts/{cohort_id}/learners/{BIG}/")

    assert response.status_code == 404


def test_the_largest_database_id_still_resolves_and_answers_404_when_nothing_has_it(client, world):
    client.force_login(world.users["instructor"])
    cohort_id = world.own["instructor"]["cohort_id"]

    response = client.get(f"/instructor/cohorts/{cohort_id}/learners/{2**63 - 1}/")

    assert response.status_code == 404
    assert resolves(f"/instructor/cohorts/{cohort_id}/learners/{2**63 - 1}/")


def test_another_learners_run_events_answer_404(client, world):
    client.force_login(world.users["learner"])

    response = client.get(f"/lab/runs/{world.others['run_id']}/events")

    assert response.status_code == 404
