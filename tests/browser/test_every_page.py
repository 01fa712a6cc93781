"""Every page a learner or an instructor can reach, at 1280×800 and 390×844, in the light and the
dark scheme: no horizontal overflow of the page, no console error, and no WCAG 2.2 A/AA
violation as axe-core (axe-playwright-python, which ships axe's script: nothing is fetched)
reports it. Screenshots: test-output/screenshots/every-page/<size>-<scheme>/<page>.png.

The demo cohort (instructor/demo.py) gives every page data a real class would have; one learner's
test is submitted, one of their lab runs has both lanes and one ran on a sandbox worker, so the
result and run pages have rows to lay out. The 500 page is reached at /crash/, a route of the
tests' URLs only (tests/urls.py).
"""

import dataclasses
import datetime as dt

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import expect

from instructor.demo import DEMO_PASSWORD, seed_demo_cohort
from learn.models import Misconception
from live_lab.models import ChallengeAttempt, LabBrokerReading, LabCall, LabEvent, LabObservation, LabRun
from live_lab.sandbox_config import SandboxConfig
from quizzes.models import Attempt
from tests.browser.conftest import SCREENSHOTS
from tests.conftest import worker_env
from tests.web_process import WebProcess

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.urls")]

SIZES = {"wide": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SCHEMES = ("light", "dark")
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
AXE = Axe()

PAGE_WIDTH = """() => {
  const root = document.documentElement;
  return {scroll: root.scrollWidth, client: root.clientWidth};
}"""

# A state or a file name in a table cell split inside a word (STARTE|D, backends/base.p|y): a
# code token without a space drawn on two lines, not after one of the characters a name may
# break after (task-results-|pending, backends/|base.py).
BROKEN_TOKENS = """() => {
  const split = [];
  const range = document.createRange();
  for (const code of document.querySelectorAll("td code, th code")) {
    const token = code.textContent.trim();
    if (/\\s/.test(token) || code.getClientRects().length < 2) continue;
    const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
    let top = null, previous = "";
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.length; i++) {
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const charTop = range.getBoundingClientRect().top;
        if (top !== null && charTop > top + 1 && !"-/_.,(".includes(previous)) split.push(token);
        top = charTop;
        previous = node.data[i];
      }
    }
  }
  return [...new Set(split)];
}"""


def finished_run(learner) -> LabRun:
    """A success run as the observer leaves it: lane 1's two readings, lane 2's four events."""
    sent_at = timezone.now() - dt.timedelta(minutes=5)
    run = LabRun.objects.create(
        owner=learner,
        experiment="success",
        task_id="8f1c6c1e-5c1f-4a53-9a57-1a3c3c1f6f0e",
        params={"args": [2, 3], "kwargs": {"seconds": 0.5}, "options": {}},
        prediction=["PENDING", "SUCCESS"],
        is_prediction_right=True,
        status=LabRun.Status.FINISHED,
        fired_at=sent_at,
        sent_at=sent_at,
        finished_at=sent_at + dt.timedelta(seconds=1),
    )
    LabObservation.objects.create(
        run=run, after_ms=0, state="PENDING", info="None", is_ready=False, is_successful=False
    )
    LabObservation.objects.create(
        run=run, after_ms=612, state="SUCCESS", info="5", is_ready=True, is_successful=True
    )
    for after_ms, kind in ((2, "published"), (9, "received"), (11, "started"), (605, "succeeded")):
        LabEvent.objects.create(
            task_id=run.task_id,
            kind=kind,
            at=sent_at + dt.timedelta(milliseconds=after_ms),
            hostname="celery@lab",
            detail="",
        )
    return run


def finished_sandbox_run(learner) -> LabRun:
    """A pool-killed run (Celery's defaults) as its sandbox worker's script leaves it: the kill
    and the run count among the client calls, WorkerLostError in lanes 1 and 2, the message's
    file in lane 3."""
    sent_at = timezone.now() - dt.timedelta(minutes=3)
    sandbox = "sandbox-3f9c2a7b41de"
    run = LabRun.objects.create(
        owner=learner,
        experiment="pool-killed",
        task_id="c2d6f0a4-7b1e-4f55-8d2a-6e9b3c1d0f7a",
        params={"args": [3.0], "kwargs": {}, "options": {}, "script": {"kill_after": 1.0}, "queue": sandbox},
        prediction=["PENDING", "FAILURE"],
        predicted_calls={"ready": "True", "runs": "once"},
        is_prediction_right=True,
        status=LabRun.Status.FINISHED,
        fired_at=sent_at - dt.timedelta(seconds=2.4),  # its sandbox worker started meanwhile
        sent_at=sent_at,
        finished_at=sent_at + dt.timedelta(seconds=4),
        sandbox_config=dataclasses.asdict(SandboxConfig()),
        sandbox_hostname=f"{sandbox}@lab-host",
    )
    lost = "WorkerLostError('Worker exited prematurely: signal 9 (SIGKILL) Job: 0.')"
    LabObservation.objects.create(
        run=run, after_ms=0, state="PENDING", info="None", is_ready=False, is_successful=False
    )
    LabObservation.objects.create(
        run=run, after_ms=3041, state="FAILURE", info=lost, is_ready=True, is_successful=False
    )
    for key, code, after_ms, outcome, detail in (
        ("kill-pool-process", "os.kill(<pool process>, SIGKILL)", 1013, "killed", "pid 48213"),
        ("runs", "how many times the task started on the worker", 3055, "once", ""),
    ):
        LabCall.objects.create(run=run, key=key, code=code, after_ms=after_ms, outcome=outcome, detail=detail)
    events = (
        (2, "published", "web@lab-host", ""),
        (9, "received", run.sandbox_hostname, ""),
        (12, "started", run.sandbox_hostname, ""),
        (3038, "failed", run.sandbox_hostname, lost),
    )
    for after_ms, kind, hostname, detail in events:
        LabEvent.objects.create(
            task_id=run.task_id,
            kind=kind,
            at=sent_at + dt.timedelta(milliseconds=after_ms),
            hostname=hostname,
            detail=detail,
        )
    message = f"1764829203417_7d0c5a51-3b8e-4f0e-9c7e-2f5b1c8a9d10.{sandbox}.msg"
    for after_ms, where, detail in (
        (3, "queued", f"the file queue/{message}"),
        (55, "gone", "taken by a worker: the filesystem broker deleted the file as the worker read it"),
    ):
        LabBrokerReading.objects.create(
            run=run, task_id=run.task_id, after_ms=after_ms, where=where, detail=detail
        )
    return run


def failed_challenge_attempt(learner) -> ChallengeAttempt:
    """A worker-death attempt as the check leaves one that failed: its kills and a row per task."""
    tasks = [
        {"index": 0, "task_id": "a", "runs": 1, "effects": 1, "state": "SUCCESS", "problems": []},
        {
            "index": 1,
            "task_id": "b",
            "runs": 1,
            "effects": 0,
            "state": "FAILURE (WorkerLostError)",
            "problems": ["lost: its effect never happened", "ended FAILURE"],
        },
    ]
    return ChallengeAttempt.objects.create(
        owner=learner,
        challenge="worker-death",
        choices={"acks_late": False, "reject_on_worker_lost": False, "idempotent": False},
        size=2,
        status=ChallengeAttempt.Status.FAILED,
        kills=["killed the pool process running task 1 before its effect (SIGKILL)"],
        tasks=tasks,
        summary=(
            "1 of 2 tasks lost, 0 applied more than once, 1 did not end in SUCCESS; "
            "2 runs in all for 2 tasks."
        ),
        finished_at=timezone.now(),
    )


@pytest.fixture
def demo_class(curriculum):
    report = seed_demo_cohort(learners=4, seed=7)
    learner = report.cohort.memberships.order_by("learner__username").first().learner
    attempt = Attempt.objects.filter(learner=learner, status=Attempt.Status.SUBMITTED).first()
    return {
        "cohort": report.cohort,
        "instructor": report.instructor,
        "learner": learner,
        "attempt": attempt,
        "run": finished_run(learner),
        "sandbox_run": finished_sandbox_run(learner),
        "challenge_attempt": failed_challenge_attempt(learner),
        "topic": attempt.topic,
        "misconception": Misconception.active.first(),
        "planted": next(iter(report.planted)),
    }


@pytest.fixture
def run_in_line(demo_class, settings):
    """The learner's run waiting for a worker slot, behind another learner's, and a uvicorn
    process to serve its page: (the run, the process's URL).

    The worker has one slot, here and in that process, held by a third learner's run stamped
    as watched an hour ahead: no web process sends the waiting runs or adopts that one. uvicorn,
    not the live server: a waiting run's event stream lasts as long as it waits, and the live
    server (WSGI) would keep a thread on it after the page is left.
    """
    settings.LAB_WORKER_SLOTS = 1
    memberships = demo_class["cohort"].memberships.order_by("learner__username")
    on_worker, ahead = (membership.learner for membership in memberships[1:3])
    now = timezone.now()

    def fired(owner, task_id: str, seconds_ago: int, **fields) -> LabRun:
        at = now - dt.timedelta(seconds=seconds_ago)
        params = {"args": [2, 3], "kwargs": {"seconds": 0.5}, "options": {}}
        return LabRun.objects.create(
            owner=owner,
            experiment="success",
            task_id=task_id,
            params=params,
            prediction=["PENDING", "SUCCESS"],
            fired_at=at,
            sent_at=at,
            **fields,
        )

    fired(
        on_worker,
        "0b7e5f52-1d0c-4b8e-a3f1-54c6d2e9a801",
        20,
        status=LabRun.Status.RUNNING,
        watched_at=now + dt.timedelta(hours=1),
    )
    fired(ahead, "5e0d7c36-9a2b-4f1e-8c4d-3b6a1f0e2d97", 15)  # waiting, as a fired run starts
    run = fired(demo_class["learner"], "9a4c2e18-6f3b-4d7a-b5e0-7c1d8f2a3b64", 5)
    server = WebProcess("every-page", env={**worker_env(), "LAB_WORKER_SLOTS": "1"})
    yield run, server.url
    server.stop()


def pages_of(demo) -> dict[str, list[tuple[str, str]]]:
    """Who sees which pages: name → path, per role."""
    topic, cohort, learner = demo["topic"].slug, demo["cohort"].pk, demo["learner"]
    return {
        "visitor": [
            ("home", "/"),
            ("topic", f"/topics/{topic}/"),
            ("login", "/accounts/login/"),
            ("signup", "/accounts/signup/"),
            ("not-found", "/no-such-page/"),
            ("server-error", "/crash/"),
            ("misconceptions", "/misconceptions/"),
            ("misconception", f"/misconceptions/{demo['misconception'].slug}/"),
        ],
        "learner": [
            ("home-signed-in", "/"),
            ("cards", f"/topics/{topic}/cards/"),
            ("review", "/review/"),
            ("practice", f"/topics/{topic}/practice/"),
            ("explain", f"/topics/{topic}/explain/"),
            ("test", f"/topics/{topic}/test/"),
            ("result", f"/attempts/{demo['attempt'].pk}/"),
            ("dashboard", "/dashboard/"),
            ("lab", "/lab/"),
            ("experiment", "/lab/success/"),
            ("sandbox-experiment", "/lab/pool-killed/"),
            ("challenge", "/lab/challenges/worker-death/"),
            ("run", f"/lab/runs/{demo['run'].pk}/"),
            ("sandbox-run", f"/lab/runs/{demo['sandbox_run'].pk}/"),
            ("challenge-attempt", f"/lab/attempts/{demo['challenge_attempt'].pk}/"),
            ("join", "/join/"),
            ("join-link", f"/join/{demo['cohort'].join_code}/"),
        ],
        "instructor": [
            ("cohorts", "/instructor/"),
            ("cohort", f"/instructor/cohorts/{cohort}/"),
            ("learner-detail", f"/instructor/cohorts/{cohort}/learners/{learner.pk}/"),
            ("item-analysis", f"/instructor/cohorts/{cohort}/items/"),
            ("misconception-map", f"/instructor/cohorts/{cohort}/misconceptions/"),
            ("misconception-holders", f"/instructor/cohorts/{cohort}/misconceptions/{demo['planted']}/"),
        ],
    }


def log_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username:").fill(username)
    page.get_by_label("Password:").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main")).to_contain_text(username)


def layout_problems(page, where: str) -> list[str]:
    """Overflow, tokens split in tables and axe violations of the page as it is shown now, each
    as one line."""
    found = []
    width = page.evaluate(PAGE_WIDTH)
    if width["scroll"] > width["client"]:
        found.append(f"{where}: the page is {width['scroll']} px wide in {width['client']} px")
    for token in page.evaluate(BROKEN_TOKENS)[:5]:
        found.append(f"{where}: {token} is split over two lines in a table")
    # Only violations: axe then skips collecting the nodes that pass, most of its work.
    options = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
    results = AXE.run(page, options=options)
    for violation in results.response["violations"]:
        targets = ", ".join(str(node["target"]) for node in violation["nodes"][:3])
        found.append(f"{where}: axe {violation['id']}: {violation['help']} at {targets}")
    return found


ERROR_STATUS = {"not-found": 404, "server-error": 500}


def problems_on(page, name: str, path: str) -> list[str]:
    """What is wrong with the page at `path` in each size and scheme, each as one line naming
    the page. The page is loaded once; its size and scheme change in place, as a browser's
    window or the system's setting would."""
    errors: list[str] = []
    listener = lambda message: message.type == "error" and errors.append(message.text)  # noqa: E731
    page.on("console", listener)
    page.goto(path)
    page.wait_for_load_state("load")
    found = []
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            found.extend(layout_problems(page, f"{name} ({path}) at {size}, {scheme}"))
            folder = SCREENSHOTS / "every-page" / f"{size}-{scheme}"
            folder.mkdir(parents=True, exist_ok=True)
            # The whole page in the light scheme; the first screen in the dark one, which
            # is enough to see it and costs a fraction of a tall page's PNG.
            # A tall page's PNG can take over 10 s on a loaded machine (CI runs two passes at once).
            page.screenshot(
                path=folder / f"{name}.png", full_page=scheme == "light", caret="initial", timeout=60_000
            )
    page.remove_listener("console", listener)
    if name in ERROR_STATUS:  # the browser reports the page's own error status as an error
        errors = [text for text in errors if f"status of {ERROR_STATUS[name]}" not in text]
    return found + [f"{name} ({path}): console error: {text}" for text in errors]


def problems_seen_by(browser, server: str, username: str | None, pages: list[tuple[str, str]]) -> list[str]:
    """problems_on each page, seen by this user (None: a visitor) in a browser of their own."""
    context = browser.new_context(base_url=server)
    context.set_default_timeout(10_000)
    page = context.new_page()
    if username:
        log_in(page, username)
    found = []
    for name, path in pages:
        found.extend(problems_on(page, name, path))
    context.close()
    return found


def test_every_page_fits_and_passes_axe_wide_and_on_a_phone_light_and_dark(
    browser, live_server, demo_class, run_in_line
):
    users = {
        "visitor": None,
        "learner": demo_class["learner"].username,
        "instructor": demo_class["instructor"],
    }
    found: list[str] = []
    for role, pages in pages_of(demo_class).items():
        found.extend(problems_seen_by(browser, live_server.url, users[role], pages))
    waiting, uvicorn = run_in_line
    waiting_page = [("waiting-run", f"/lab/runs/{waiting.pk}/")]
    found.extend(problems_seen_by(browser, uvicorn, users["learner"], waiting_page))
    assert not found, "\n".join(found)
    assert LabRun.objects.get(pk=waiting.pk).is_waiting, "it was sent: its page was not a waiting run's"
