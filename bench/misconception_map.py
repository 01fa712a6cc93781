"""Server time of the misconception map (issue 15) on a large demo cohort.

    .venv/bin/python bench/misconception_map.py [--learners 500] [--tests 10] [--runs 15] [--skip-sync]

Works on its own SQLite file, bench-misconceptions.sqlite3 under APP_RUNTIME_DIR (default
.runtime/), recreated on every run: never the development database. It migrates, loads the
curriculum (`content sync`, with its misconception tags; --skip-sync keeps the topics already in
that file), runs `seed_demo` (every answer with a certainty, three planted beliefs), then requests
the map through Django's test client as the cohort's instructor, in each of its orders, with its
CSV, the top belief's holders and a holder's learner page, and prints the median and slowest
time of `--runs` requests (after one warm-up), the median CPU time of this process per request
(the app and SQLite both run in it: on a shared machine it moves less than the clock), the
number of SQL queries and the page's size. The aim is under 500 ms for
500 learners.
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
DATABASE = RUNTIME / "bench-misconceptions.sqlite3"
os.environ["APP_SQLITE_PATH"] = str(DATABASE)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, default=500)
    parser.add_argument("--tests", type=int, default=10, help="submitted tests per learner")
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
    from instructor.misconception_map import misconception_map
    from quizzes.models import Option

    call_command("migrate", verbosity=0)
    if not args.skip_sync:
        call_command("content", "sync")
    else:
        # An earlier run's demo learners would only slow the queries down; the curriculum stays.
        from django.contrib.auth import get_user_model

        get_user_model().objects.filter(username__startswith="demo").delete()
    wrong = Option.active.filter(is_correct=False, question__archived_at__isnull=True)
    tagged = wrong.exclude(misconception=None).count()
    print(f"wrong options tagged with a misconception: {tagged} of {wrong.count()}")
    report = seed_demo_cohort(learners=args.learners, tests_per_learner=args.tests, seed=7)
    cohort = report.cohort
    planted = ", ".join(f"{slug} ({count})" for slug, count in report.planted.items())
    print(
        f"seeded in {report.seconds:.1f} s: {report.learners} learners, {report.attempts} tests, "
        f"{report.responses} answers; planted {planted or 'nothing (no tagged options)'} ({DATABASE})"
    )
    found = misconception_map(cohort)
    print(
        f"the map: {len(found.rows)} misconceptions held, "
        f"{sum(row.learners for row in found.rows)} (learner, misconception) pairs; top 5 by weighted score:"
    )
    for row in found.rows[:5]:
        figures = f"{row.learners:>4} learners {row.confident:>4} confident {row.weighted:>5}"
        print(f"  {row.misconception.slug:<45} {figures}")
    base = f"/instructor/cohorts/{cohort.pk}/"
    pages = {
        "map (weighted score)": f"{base}misconceptions/",
        "map by learners": f"{base}misconceptions/?sort=learners",
        "map by name": f"{base}misconceptions/?sort=name",
        "misconceptions.csv": f"{base}misconceptions.csv",
    }
    if found.rows:
        top = found.rows[0]
        pages["the top belief's holders"] = f"{base}misconceptions/{top.misconception.slug}/"
        pages["a holder's learner page"] = f"{base}learners/{found.holders(top)[0].membership.learner_id}/"
    client = Client()
    client.force_login(cohort.owner)
    print(f"{'page':<30} {'median ms':>10} {'max ms':>8} {'CPU ms':>7} {'queries':>8} {'bytes':>9}")
    for name, url in pages.items():
        response = client.get(url)  # warm-up
        assert response.status_code == 200, (url, response.status_code)
        timings, cpu = [], []
        for _ in range(args.runs):
            started, cpu_started = time.perf_counter(), time.process_time()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        print(
            f"{name:<30} {statistics.median(timings):>10.1f} {max(timings):>8.1f} "
            f"{statistics.median(cpu):>7.1f} {len(queries.captured_queries):>8} {len(response.content):>9}"
        )


if __name__ == "__main__":
    main()
