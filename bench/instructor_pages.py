"""Server time of the instructor pages on a large demo cohort.

    .venv/bin/python bench/instructor_pages.py [--learners 500] [--runs 15] [--skip-sync]

Works on its own SQLite file, bench-instructor.sqlite3 under APP_RUNTIME_DIR (default .runtime/),
recreated on every run: never the development database. It migrates, loads the curriculum
(`content sync`; --skip-sync keeps the topics already in that file), runs `seed_demo`, then
requests each page through Django's test client as the cohort's instructor and prints the
median and slowest time of `--runs` requests (after one warm-up) and the number of SQL queries.
The aim (issue 7) is under 500 ms a page.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.pop("REDIS_URL", None)
RUNTIME = Path(os.environ.get("APP_RUNTIME_DIR") or ROOT / ".runtime").resolve()
DATABASE = RUNTIME / "bench-instructor.sqlite3"
os.environ["APP_SQLITE_PATH"] = str(DATABASE)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, default=500)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--skip-sync", action="store_true", help="keep the topics already in the bench database"
    )
    args = parser.parse_args()
    if not args.skip_sync:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{DATABASE}{suffix}").unlink(missing_ok=True)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from instructor.demo import seed_demo_cohort
    from instructor.models import Membership

    call_command("migrate", verbosity=0)
    if not args.skip_sync:
        call_command("content", "sync")
    else:
        # An earlier run's demo learners would only slow the queries down; the curriculum stays.
        from django.contrib.auth import get_user_model

        get_user_model().objects.filter(username__startswith="demo").delete()
    report = seed_demo_cohort(learners=args.learners, seed=7)
    cohort = report.cohort
    print(
        f"seeded in {report.seconds:.1f} s: {report.learners} learners, {report.attempts} tests, "
        f"{report.responses} answers, {report.reviews} card ratings, {report.lab_runs} lab runs ({DATABASE})"
    )
    learner_id = (
        Membership.objects.filter(cohort=cohort).order_by("pk").values_list("learner_id", flat=True)[0]
    )
    base = f"/instructor/cohorts/{cohort.pk}/"
    pages = {
        "my cohorts": "/instructor/",
        "cohort dashboard": base,
        "dashboard sorted by a topic": f"{base}?sort=-{cohort_topic_slug()}",
        "learner drill-down": f"{base}learners/{learner_id}/",
        "item analysis": f"{base}items/",
        "grades.csv": f"{base}grades.csv",
        "items.csv": f"{base}items.csv",
    }
    client = Client()
    client.force_login(cohort.owner)
    print(f"{'page':<30} {'median ms':>10} {'max ms':>8} {'queries':>8} {'bytes':>9}")
    for name, url in pages.items():
        response = client.get(url)  # warm-up
        assert response.status_code == 200, (url, response.status_code)
        timings = []
        for _ in range(args.runs):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        print(
            f"{name:<30} {statistics.median(timings):>10.1f} {max(timings):>8.1f} "
            f"{len(queries.captured_queries):>8} {len(response.content):>9}"
        )


def cohort_topic_slug() -> str:
    from learn.models import Topic

    return Topic.active.order_by("order").values_list("slug", flat=True)[0]


if __name__ == "__main__":
    main()
