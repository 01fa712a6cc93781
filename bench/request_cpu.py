"""The web's CPU per request, page by page, one request at a time: an A/B bench for code changes.

    .venv/bin/python bench/request_cpu.py [--requests 200] [--rounds 3] [CODE_DIR ...]

For each code folder given (default: this checkout) it starts one web process as production
does (deploy/Procfile.production's command, WEB_PROCESSES=1, DJANGO_DEBUG=false, plain HTTP on
loopback) from that folder, all of them at once, on one database prepared here (DATABASE_URL
and REDIS_URL are taken from the environment, as the app takes them; otherwise SQLite in
APP_RUNTIME_DIR); logs a learner in on each and sends each page --requests times, one request
at a time and the folders in turn (A, B, A, B...), as a browser asking for gzip, so that
whatever else runs on the machine falls on every folder alike; then again, --rounds times, with
new processes. The CPU of a request is the web process's own run time (the sum of
/proc/PID/task/*/schedstat, nanoseconds) from just before the request is sent to just after
its response has arrived; the table gives, per page and folder, the median over the rounds of
each round's median, and the SQL statements per request (bench/querycount, the classroom
bench's counter). Compare two checkouts: `git worktree add --detach /tmp/before main`, then
`bench/request_cpu.py /tmp/before .`.

The pages are a health check (the floor: every middleware, the learner's session and user, one
statement, a small JSON body) and the lesson's (bench/classroom.py): the home page, a topic, the test page, an
answer autosave (htmx), a card rating (htmx, a new card each time), the dashboard.
"""

import argparse
import contextlib
import gzip
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.modes import free_port  # noqa: E402

PASSWORD = "request-cpu-bench-password-51c2"
PAGES = ["health check", "home", "topic", "test page", "answer autosave", "card rating", "dashboard"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("code", nargs="*", default=[str(ROOT)], help="checkouts to compare (default: this)")
    parser.add_argument("--requests", type=int, default=200, help="requests per page per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()
    os.environ.setdefault("APP_RUNTIME_DIR", tempfile.mkdtemp(prefix="bench-request-cpu-"))
    env = {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-use-0123456789",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_HTTPS": "false",
    }
    os.environ.update(env)
    topic, usernames = prepare_database(args.requests)
    usernames = iter(usernames)  # each learner once, across every round and folder
    figures: dict[str, dict[str, list]] = {code: {} for code in args.code}
    for round_number in range(args.rounds):
        print(f"round {round_number + 1} of {args.rounds}", file=sys.stderr)
        for code, pages in measure(args.code, topic, usernames, args.requests).items():
            for page, (median_ns, statements) in pages.items():
                each = figures[code].setdefault(page, [[], []])
                each[0].append(median_ns)
                each[1].append(statements)
    print(f"CPU per request, ms (median of {args.rounds} rounds' medians, {args.requests} requests each);")
    print(f"SQL statements per request; load average {os.getloadavg()[0]:.1f} at the end")
    header = "page".ljust(18) + "".join(f"{Path(code).name[:22]:>24}" for code in args.code)
    print(header)
    for page in PAGES:
        row = page.ljust(18)
        for code in args.code:
            times, statements = figures[code][page]
            row += f"{statistics.median(times) / 1e6:14.2f} ms {statistics.median(statements):5.1f} q"
        print(row)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


def prepare_database(requests: int) -> tuple[str, list[str]]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from learn.models import Topic

    call_command("migrate", verbosity=0)
    call_command("content", "sync", stdout=open(os.devnull, "w"))  # noqa: SIM115
    topic = next(
        topic
        for topic in Topic.active.all()
        if topic.flashcards.filter(archived_at__isnull=True).count() >= 5
        and topic.questions.filter(archived_at__isnull=True).exists()
    )
    # Enough learners for every card rating of every round, each with fresh cards.
    run_id = f"r{int(time.time()) % 100000}"
    hashed = make_password(PASSWORD)
    names = [f"{run_id}-{n}" for n in range(2000)]
    User.objects.bulk_create(User(username=name, password=hashed) for name in names)
    return topic.slug, names


def start_web(code: str, port: int, counts_dir: Path) -> subprocess.Popen:
    command = next(
        line.removeprefix("web:").strip()
        for line in (Path(code) / "deploy" / "Procfile.production").read_text().splitlines()
        if line.startswith("web:")
    )
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_PROCESSES": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT / "bench" / "querycount"),
        "BENCH_QUERY_COUNT_DIR": str(counts_dir),
    }
    log = open(Path(os.environ["APP_RUNTIME_DIR"]) / "request-cpu-web.log", "a")  # noqa: SIM115
    return subprocess.Popen(["bash", "-c", command], cwd=code, env=env, stdout=log, stderr=subprocess.STDOUT)


def run_time_ns(pid: int) -> int:
    """Nanoseconds every thread of the process and of its children has run (schedstat)."""
    total = 0
    todo = [pid]
    while todo:
        each = todo.pop()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{each}/task").iterdir():
                with contextlib.suppress(OSError):
                    total += int((task / "schedstat").read_text().split()[0])
                    todo.extend(int(p) for p in (task / "children").read_text().split())
    return total


class Browser:
    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.token = ""
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, fields=None, *, htmx=False) -> tuple[int, dict, str]:
        cookies = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        headers = {"Cookie": cookies, "Accept-Encoding": "gzip"}
        body = None
        if fields is not None:
            body = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": self.token}, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if htmx:
            headers["HX-Request"] = "true"
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        raw = response.read()
        if response.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        text = raw.decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        if token := re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text):
            self.token = token.group(1)
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status} {text[:300]!r}")
        return response.status, response.headers, text

    def log_in(self, username: str) -> None:
        self.cookies.clear()
        self.request("GET", "/accounts/login/")
        self.request("POST", "/accounts/login/", {"username": username, "password": PASSWORD, "next": ""})


QUESTION_FORM = re.compile(r'action="/attempts/(\d+)/questions/(\d+)/"')


class Site:
    """One code folder's web process and a learner's browser on it, ready for every page."""

    def __init__(self, code: str, topic: str, learners):
        self.code, self.topic, self.learners = code, topic, learners
        self.port = free_port()
        self.counts_dir = Path(tempfile.mkdtemp(prefix="counts-", dir=os.environ["APP_RUNTIME_DIR"]))
        self.web = start_web(code, self.port, self.counts_dir)
        self.cards_page = ""

    def stop(self) -> None:
        self.web.terminate()
        try:
            self.web.wait(15)
        except subprocess.TimeoutExpired:
            self.web.kill()
            self.web.wait(10)

    def ready(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", self.port, timeout=5).request("GET", "/healthz")
                break
            except OSError:
                if time.monotonic() > deadline or self.web.poll() is not None:
                    raise RuntimeError(f"the web process of {self.code} did not start") from None
                time.sleep(0.2)
        self.browser = Browser(self.port)
        self.browser.log_in(next(self.learners))
        self.test_path = f"/topics/{self.topic}/test/"
        page = self.browser.request("GET", self.test_path)[2]
        if not QUESTION_FORM.search(page):
            self.browser.request("POST", self.test_path, {})
            page = self.browser.request("GET", self.test_path)[2]
        attempt, position = QUESTION_FORM.search(page).groups()
        self.options = re.findall(r'name="options" value="([^"]+)"', page)
        self.answer_path = f"/attempts/{attempt}/questions/{position}/"

    def request_for(self, page: str, n: int):
        """The page's request, ready to send (a card rating may log a new learner in first)."""
        browser = self.browser
        if page == "health check":  # the floor: the middlewares, the user and one statement
            return lambda: browser.request("GET", "/healthz")
        if page == "home":
            return lambda: browser.request("GET", "/")
        if page == "topic":
            return lambda: browser.request("GET", f"/topics/{self.topic}/")
        if page == "test page":
            return lambda: browser.request("GET", self.test_path)
        if page == "dashboard":
            return lambda: browser.request("GET", "/dashboard/")
        if page == "answer autosave":
            fields = {"options": self.options[n % len(self.options)], "certainty": "low"}
            return lambda: browser.request("POST", self.answer_path, fields, htmx=True)
        card = re.search(r'name="card" value="(\d+)"', self.cards_page)
        reviews = re.search(r'name="reviews" value="(\d+)"', self.cards_page)
        if not card or not reviews:  # caught up (or the first time): a new learner, all cards new
            browser.log_in(next(self.learners))
            self.cards_page = browser.request("GET", f"/topics/{self.topic}/cards/")[2]
            card = re.search(r'name="card" value="(\d+)"', self.cards_page)
            reviews = re.search(r'name="reviews" value="(\d+)"', self.cards_page)
        fields = {"card": card.group(1), "reviews": reviews.group(1), "rating": 3}
        return lambda: browser.request("POST", f"/topics/{self.topic}/cards/rate/", fields, htmx=True)

    def send(self, page: str, n: int) -> int:
        """One request; the web process's run time it took, in nanoseconds."""
        send = self.request_for(page, n)
        before = run_time_ns(self.web.pid)
        response = send()
        took = run_time_ns(self.web.pid) - before
        if page == "card rating":
            self.cards_page = response[2]
        return took

    def statements(self) -> dict[str, float]:
        totals = {}
        for path in self.counts_dir.glob("*.json"):
            for label, (count, total) in json.loads(path.read_text()).items():
                totals[label] = (count, total)
        return {page: per_request(totals, page) for page in PAGES}


def measure(codes: list[str], topic: str, learners, requests: int) -> dict[str, dict[str, tuple]]:
    """Every folder's web process at once, the requests interleaved: A, B, A, B... so that
    whatever else runs on the machine falls on both alike."""
    sites = [Site(code, topic, learners) for code in codes]
    try:
        for site in sites:
            site.ready()
        times = {site.code: {page: [] for page in PAGES} for site in sites}
        for page in PAGES:
            for n in range(requests + 5):  # the first five warm the processes up
                for site in sites:
                    took = site.send(page, n)
                    if n >= 5:
                        times[site.code][page].append(took)
        time.sleep(1.2)  # the statement counters write every 0.5 s
        return {
            site.code: {
                page: (statistics.median(times[site.code][page]), site.statements()[page]) for page in PAGES
            }
            for site in sites
        }
    finally:
        for site in sites:
            site.stop()


LABELS = {
    "health check": "/healthz",
    "home": "/",
    "topic": "/topics/<slug>/",
    "test page": "/topics/<slug>/test/",
    "answer autosave": "/attempts/<id>/questions/<id>/",
    "card rating": "/topics/<slug>/cards/rate/",
    "dashboard": "/dashboard/",
}


def per_request(statements: dict, page: str) -> float:
    count, total = statements.get(LABELS[page], (0, 0))
    return total / count if count else 0.0


if __name__ == "__main__":
    main()
