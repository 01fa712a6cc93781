"""Django settings. Everything that varies is read from the environment, and nothing else.

The embedded default needs no variables: SQLite, kombu's filesystem broker (made atomic in
config/filesystem_broker.py) and results in the Django database, all under one runtime folder.
Setting REDIS_URL switches the broker and the result backend to Redis. Every variable is listed
in .env.example.
"""

import datetime as dt
import os
import re
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use true or false.")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_float(name: str, default: float, *, low: float, high: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ImproperlyConfigured(f"{name}={raw!r} must be a number of seconds from {low} to {high}.")
    return value


def env_int(name: str, default: int, *, low: int, high: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ImproperlyConfigured(f"{name}={raw!r} must be a whole number from {low} to {high}.")
    return value


def runtime_dir() -> Path:
    """The one ignored folder for everything the app writes at run time.

    Under pytest the default moves to .runtime/test/, so that a development worker started by
    `make run` never consumes the test suite's tasks from a shared broker folder.
    """
    explicit = os.environ.get("APP_RUNTIME_DIR")
    if explicit:
        return Path(explicit).resolve()
    if os.environ.get("PYTEST_VERSION"):
        return BASE_DIR / ".runtime" / "test"
    return BASE_DIR / ".runtime"


def local_secret_key(folder: Path) -> str:
    """Read the generated development key, creating it once (safe if web and worker race)."""
    path = folder / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


RUNTIME_DIR = runtime_dir()
RUNTIME_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DJANGO_DEBUG", True)

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])

# --- HTTPS (README, "Production") ---------------------------------------------------------
# With DJANGO_DEBUG=false the site is assumed to be served over HTTPS, and every setting below
# defaults to the secure choice; in debug (plain http://127.0.0.1:8000) they default to off.
# Each can be set on its own; `manage.py check --deploy` lists what is still missing.
HTTPS = env_bool("DJANGO_HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", HTTPS)
# A load balancer's health probe often comes over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", HTTPS)
HSTS_MIN_SECONDS = 31_536_000  # one year, what the HSTS preload list asks for (hstspreload.org)
SECURE_HSTS_SECONDS = env_int(
    "DJANGO_SECURE_HSTS_SECONDS", HSTS_MIN_SECONDS if HTTPS else 0, low=0, high=10 * HSTS_MIN_SECONDS
)
if 0 < SECURE_HSTS_SECONDS < HSTS_MIN_SECONDS:
    raise ImproperlyConfigured(
        f"DJANGO_SECURE_HSTS_SECONDS={SECURE_HSTS_SECONDS} is less than a year: use 0 (no HSTS) "
        f"or at least {HSTS_MIN_SECONDS}."
    )
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", SECURE_HSTS_SECONDS > 0)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", SECURE_HSTS_SECONDS > 0)

# A served site (DJANGO_DEBUG=false over HTTPS) must be given its key: each host generating its
# own would log learners out whenever another host answered. `make run` (debug off, plain
# http on this machine) and development use one generated into the runtime folder.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and HTTPS:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is required when DJANGO_DEBUG is false and the site is served over "
            "HTTPS: set it to a long random string, for example the output of `python -c 'import "
            "secrets; print(secrets.token_urlsafe(50))'`."
        )
    SECRET_KEY = local_secret_key(RUNTIME_DIR)


def env_proxy_ssl_header(name: str) -> tuple[str, str] | None:
    """`X-Forwarded-Proto: https` → ("HTTP_X_FORWARDED_PROTO", "https"), Django's form."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    match = re.fullmatch(r"([A-Za-z0-9-]+)\s*:\s*(\S+)", raw)
    if not match:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not of the form 'Header-Name: value', for example "
            "'X-Forwarded-Proto: https'. Unset it when no TLS proxy is in front."
        )
    return "HTTP_" + match.group(1).upper().replace("-", "_"), match.group(2)


# Only behind a proxy that sets this header on every request and drops any copy a client sent.
SECURE_PROXY_SSL_HEADER = env_proxy_ssl_header("DJANGO_SECURE_PROXY_SSL_HEADER")

# How many proxies in front of the app append to X-Forwarded-For; the client's address (login
# throttling, signup limit) is the entry the outermost of them added (config/client_address.py).
if SECURE_PROXY_SSL_HEADER and not os.environ.get("TRUSTED_PROXY_COUNT", "").strip():
    raise ImproperlyConfigured(
        "DJANGO_SECURE_PROXY_SSL_HEADER is set, so a proxy is in front: set TRUSTED_PROXY_COUNT to "
        "the number of proxies that append to X-Forwarded-For (usually 1), or to 0 if none does. "
        "Otherwise every learner would share the proxy's address for login and signup limits."
    )
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, low=0, high=10)

CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
for origin in CSRF_TRUSTED_ORIGINS:
    if not re.fullmatch(r"https?://[^/\s]+", origin):
        raise ImproperlyConfigured(
            f"DJANGO_CSRF_TRUSTED_ORIGINS has {origin!r}, which is not an origin like "
            "https://lab.example.org (scheme and host, no path)."
        )

# --- Content-Security-Policy (django-csp 4) -----------------------------------------------
# Everything from our own origin: scripts and styles are files (no inline code, no eval: htmx
# is configured by a <meta> in base.html), the lab's event streams are same-origin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_celery_results",
    "csp",
    "axes",
    "learn",
    "quizzes",
    "live_lab",
    "dashboard",
    "instructor",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # gzip when the browser accepts it, never an event stream (config/compression.py, with the
    # BREACH decision); above everything that writes the body. Below WhiteNoise, which answers
    # static files itself, before this: they are not compressed on every request.
    "config.compression.GZipExceptEventStreamsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A request reads the content version once, for whatever its page keeps per content version
    # (learn/curriculum/kept.py).
    "learn.curriculum.kept.ContentVersionPerRequest",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the login page with its message.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "learn.context_processors.review_due_count",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# --- Database ------------------------------------------------------------------------------
# SQLite by default (embedded, nothing to install); PostgreSQL when DATABASE_URL is set.


def without_password(url: str) -> str:
    """The URL as it may appear in a message: the password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def postgresql_database(url: str) -> dict:
    """DATABASES["default"] for a postgres://user:password@host:port/name URL, parsed by
    dj-database-url; anything else stops the start with a message that names DATABASE_URL."""
    shown = without_password(url)
    try:
        database = dj_database_url.parse(url)
    except ValueError as error:  # a bad port, an unknown scheme (dj-database-url's errors are ValueErrors)
        raise ImproperlyConfigured(
            f"DATABASE_URL={shown!r} is not a database URL ({error}). Use "
            "postgres://USER:PASSWORD@HOST:PORT/NAME, or unset it to use SQLite."
        ) from None
    if urlsplit(url).scheme not in {"postgres", "postgresql"} or not database["NAME"]:
        raise ImproperlyConfigured(
            f"DATABASE_URL={shown!r} is not a PostgreSQL URL with a database name: use "
            "postgres://USER:PASSWORD@HOST:PORT/NAME, or unset it to use SQLite."
        )
    return database


def in_celery_worker() -> bool:
    """This process is a `celery worker` (`celery -A config worker`, `python -m celery ... worker`)."""
    program = Path(sys.argv[0])
    return "worker" in sys.argv[1:] and "celery" in {program.name, program.parent.name}


DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
# Connections one process keeps open to PostgreSQL, at most (README, "PostgreSQL": sizing).
DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 30, low=4, high=1000)
if DATABASE_URL:
    DATABASES = {"default": postgresql_database(DATABASE_URL)}
    DATABASES["default"]["OPTIONS"] = {
        **DATABASES["default"].get("OPTIONS", {}),
        "connect_timeout": 5,  # seconds: an unreachable server fails the request, it does not hang it
    }
    # Django's advice for ASGI: no persistent connections (CONN_MAX_AGE stays 0, as
    # dj-database-url sets it), psycopg's pool instead. Each request runs in a thread of its
    # own, which takes a connection from the pool and gives it back when the response ends;
    # the lab's long-lived threads (observer, dispatcher, senders, lane-2 writer, the stream
    # readers) each keep one. A thread waits at most `timeout` seconds for one, then fails.
    # https://docs.djangoproject.com/en/5.2/ref/databases/#persistent-connections
    # A Celery worker gets no pool: its pool processes are forked, and a psycopg pool inherited
    # across fork() would hand the parent's sockets to the children (closing them, as Celery
    # does in a new child, would end the parent's sessions); each task opens a connection and
    # Celery closes it after the task.
    if not in_celery_worker():
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": 2,
            "max_size": DATABASE_POOL_SIZE,
            "timeout": 10,
        }
    # The test database is Django's default, test_<NAME>; the test worker is pointed at it
    # (tests/conftest.py worker_env).
else:
    # SQLite serves a web process and a worker writing at once. WAL lets readers run beside the
    # writer; IMMEDIATE takes the write lock when a transaction begins, so a transaction that
    # read first can never fail to upgrade ("database is locked" is raised at once in that case,
    # without waiting for the busy timeout); the timeout makes writers queue instead of failing.
    # The backend is Django's, with INSERTs that release the write lock at once
    # (config/sqlite_backend).
    # https://docs.djangoproject.com/en/5.2/ref/databases/#database-is-locked-errors
    SQLITE_PATH = Path(os.environ.get("APP_SQLITE_PATH") or RUNTIME_DIR / "db.sqlite3")
    DATABASES = {
        "default": {
            "ENGINE": "config.sqlite_backend",
            "NAME": SQLITE_PATH,
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            # A file, not Django's default in-memory test database: the test suite's Celery
            # worker is another process and must see the same rows.
            "TEST": {"NAME": RUNTIME_DIR / "test-db.sqlite3"},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The first hashes new passwords (config/passwords.py: why Argon2id, at what cost); the others
# verify hashes made before, which Django then re-hashes with the first at the next login.
PASSWORD_HASHERS = [
    "config.passwords.Argon2idOwaspMinimum",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# The app is in English only and translates nothing. With translation on, every number a
# template shows asks for the request's language through asgiref's context-local storage: about
# a tenth of a page's rendering (docs/PERFORMANCE.md).
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = RUNTIME_DIR / "staticfiles"
# Serve straight from the app folders, so that no collectstatic step is needed to run.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

CONTENT_DIR = BASE_DIR / "content"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:topic_list"
LOGOUT_REDIRECT_URL = "dashboard:topic_list"

# --- Login and signup throttling (README, "Production") -----------------------------------
# django-axes counts failed logins in the database, which every web process shares. A lockout
# is for one username from one address: a classroom behind one NAT address is not locked out
# together by one learner's typos, and an attacker guessing one account's password from many
# addresses is held back by the cool-off on each of them (and by the password validators).
#
# The user of each request is read through Redis in Redis mode (config/users.py). Django's own
# ModelBackend stays listed for the sessions signed in before that backend came: a session keeps
# the backend that signed it in, and would otherwise end at the upgrade.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "config.users.ModelBackendWithCachedUsers",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, low=1, high=1000)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, low=1, high=7 * 24 * 60))
AXES_RESET_ON_SUCCESS = True
# A refused attempt during the lockout starts the cool-off again, so the login page's "try again
# in N minutes" is exact, and guessing on does not shorten the wait.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_CLIENT_IP_CALLABLE = "config.client_address.client_address"
# The login page with its message (status 429), not axes' bare text page.
AXES_LOCKOUT_CALLABLE = "learn.views.login_locked_out"
# Keep only the failures a lockout needs, not a row for every successful login.
AXES_DISABLE_ACCESS_LOG = True
# New accounts per client address per hour. A class of 30 behind one NAT address signs up in
# one lesson; a script making hundreds of accounts to crowd the lab's worker does not get far.
SIGNUPS_PER_ADDRESS_PER_HOUR = env_int("SIGNUPS_PER_ADDRESS_PER_HOUR", 40, low=1, high=100_000)

# --- Celery -------------------------------------------------------------------------------

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL and not re.fullmatch(r"rediss?://([^@/]*@)?[^:/@]+:\d+/\d+", REDIS_URL):
    raise ImproperlyConfigured(
        f"REDIS_URL={REDIS_URL!r} is not of the form redis://HOST:PORT/DB, "
        "for example redis://127.0.0.1:6379/0. Unset it to run in embedded mode."
    )
RUN_MODE = "redis" if REDIS_URL else "embedded"

# How often the app's own code polls the result backend. django-celery-results' get() polls
# every 0.5 s by default; reads in this app pass this interval instead.
RESULT_POLL_INTERVAL = 0.05

if RUN_MODE == "redis":
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
else:
    BROKER_DIR = RUNTIME_DIR / "broker"
    CELERY_BROKER_URL = "filesystem://localhost/"  # the host is unused; naming one avoids a warning
    CELERY_BROKER_TRANSPORT = "config.filesystem_broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        # kombu's default of 1.0 s adds about half a second to every task on average;
        # docs/embedded-broker.md has the measurements behind 0.05 s.
        "polling_interval": env_float("BROKER_POLLING_INTERVAL", 0.05, low=0.001, high=5.0),
    }
    CELERY_RESULT_BACKEND = "django-db"
    # A worker on this broker has no event loop: a timer thread starts countdown and ETA tasks,
    # and Celery's default lets it sleep 1 s between looks at its schedule, so a retry "in
    # 0.5 s" started up to a second late. docs/embedded-broker.md has the measurements.
    CELERY_WORKER_TIMER_PRECISION = env_float("WORKER_TIMER_PRECISION", 0.05, low=0.001, high=5.0)

# Every wait on the broker is bounded. Without an acquire timeout, a thread waits for a pooled
# broker connection for ever: a worker ping takes two, and twelve pings at once hung the lab
# for good (issue 13). Publishing retries for about a second, then the send fails and the
# learner is told; connecting to Redis gives up after 2 s instead of hanging a thread.
CELERY_BROKER_POOL_ACQUIRE_TIMEOUT = 5.0
CELERY_BROKER_CONNECTION_TIMEOUT = 2.0
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.2}
if RUN_MODE == "redis":
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2.0, "socket_timeout": 10.0}
    CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2.0
    CELERY_REDIS_SOCKET_TIMEOUT = 10.0

# Sessions: in Redis mode read through a Redis cache that every web process on every host shares,
# the database staying the record (config/sessions.py); embedded mode reads them from the
# database. No other code uses Django's cache.
if RUN_MODE == "redis":
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "sessions": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "lab",
            # Bounded like every other wait on Redis: a page falls back to the database.
            "OPTIONS": {"socket_connect_timeout": 2.0, "socket_timeout": 2.0},
        },
    }
    SESSION_ENGINE = "config.sessions"
    SESSION_CACHE_ALIAS = "sessions"

# Lab tasks have a queue of their own, so that experiments never delay the app's own tasks.
CELERY_TASK_ROUTES = {"live_lab.tasks.*": {"queue": "lab"}}

CELERY_RESULT_EXTENDED = True  # store task name, args and worker, shown in the admin
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# One message at a time: the filesystem broker removes a message when it is fetched, so a
# killed worker loses whatever it had prefetched.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# --- Sandbox workers (docs/live-lab.md, "Sandbox workers") -----------------------------------
# A worker of its own for one lab run, started by live_lab/sandbox.py with LAB_SANDBOX set to the
# configuration the run chose (JSON, live_lab/sandbox_config.py); only sandbox workers set it.
# Its values replace the app's own Celery settings above, in that worker only; the pool and the
# concurrency are on its command line (`celery worker --pool` defaults to prefork, not a setting).
LAB_SANDBOX = None
if os.environ.get("LAB_SANDBOX", "").strip():
    from live_lab.sandbox_config import SandboxConfig, unacked_keys  # plain Python: no app is loaded

    try:
        LAB_SANDBOX = SandboxConfig.from_json(os.environ["LAB_SANDBOX"])
    except (TypeError, ValueError) as error:
        raise ImproperlyConfigured(
            f"LAB_SANDBOX={os.environ['LAB_SANDBOX']!r} is not a sandbox configuration: {error}. "
            "It is set by live_lab/sandbox.py for the workers it starts; unset it elsewhere."
        ) from None
    CELERY_TASK_ACKS_LATE = LAB_SANDBOX.acks_late
    CELERY_TASK_REJECT_ON_WORKER_LOST = LAB_SANDBOX.reject_on_worker_lost
    CELERY_TASK_RETRY_ON_WORKER_LOST = LAB_SANDBOX.retry_on_worker_lost
    # No setting exists for these two: they are task attributes, set here on every task.
    CELERY_TASK_ANNOTATIONS = {
        "*": {"default_retry_delay": LAB_SANDBOX.default_retry_delay, "max_retries": LAB_SANDBOX.max_retries}
    }
    CELERY_TASK_TRACK_STARTED = LAB_SANDBOX.track_started
    CELERY_RESULT_EXPIRES = LAB_SANDBOX.result_expires
    CELERY_WORKER_PREFETCH_MULTIPLIER = LAB_SANDBOX.prefetch_multiplier
    # After a pool process dies, how long the worker waits for a result it may have sent before
    # it gives up with WorkerLostError: Celery's 10 s would hold a sandbox (and the learner) for
    # nothing; the outcome is the same, 8 s sooner.
    CELERY_WORKER_LOST_WAIT = 2.0
    if RUN_MODE == "redis":  # the filesystem broker has no visibility timeout: nothing to set
        CELERY_BROKER_TRANSPORT_OPTIONS = {
            **CELERY_BROKER_TRANSPORT_OPTIONS,
            "visibility_timeout": LAB_SANDBOX.visibility_timeout,
            # kombu sweeps the unacked hash every interval x throttle seconds (10 x 10 by
            # default): a message past its visibility_timeout would come back up to 100 s late.
            # Every second, so that a sandbox shows redelivery when visibility_timeout passes.
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
            **unacked_keys(os.environ.get("LAB_SANDBOX_QUEUE", "sandbox")),
            # Only this sandbox's workers take its lock: one killed while holding it (the
            # experiments kill workers) must not hold up the next one's restore for 5 minutes.
            "unacked_mutex_expire": 5,
        }
# Sandbox workers running at once, across every web process of the site (claimed in the database).
LAB_SANDBOXES = env_int("LAB_SANDBOXES", 2, low=0, high=64)
# A sandbox worker kills itself (and so its pool) this many seconds after it started.
LAB_SANDBOX_LIFETIME = env_int("LAB_SANDBOX_LIFETIME", 120, low=5, high=3_600)

# How the lab shares the worker among a class (docs/live-lab.md, "A class at once"). Runs are
# held by the web app and sent to the broker only while the worker has a free slot; at most
# LAB_SLOTS_PER_LEARNER of one learner's runs are on the worker at once, and the next run sent
# is the one whose learner has the fewest there. Twice the worker's processes by default: one
# task running and one reserved per process, as the worker itself prefetches (multiplier 1), so
# a process never idles while the web app sends the next run (bench/lab.py: 11-14 % overhead
# against 30-48 % with one slot per process, docs/PERFORMANCE.md).
WORKER_CONCURRENCY = env_int("WORKER_CONCURRENCY", 8, low=1, high=512)
LAB_WORKER_SLOTS = env_int("LAB_WORKER_SLOTS", 2 * WORKER_CONCURRENCY, low=1, high=10_000)
LAB_SLOTS_PER_LEARNER = env_int("LAB_SLOTS_PER_LEARNER", 2, low=1, high=10_000)
LAB_MAX_WAITING_RUNS = env_int("LAB_MAX_WAITING_RUNS", 200, low=1, high=1_000_000)
# Open run pages (event streams) per learner in one web process.
LAB_MAX_STREAMS_PER_LEARNER = env_int("LAB_MAX_STREAMS_PER_LEARNER", 6, low=1, high=1_000)

# --- Web processes (Procfile, docs/DEPLOY.md) ---------------------------------------------
# uvicorn processes on one port, one per core by default: one process runs Python on one core
# at a time (issue 14 measured one process at 100 % of a core while the machine idled). The
# Procfile's web line reads it from here, so a malformed value stops the start with this
# message. Each process has its own lab observer, dispatcher and worker ping; they share the
# runs through the database (docs/live-lab.md, "A class at once").
WEB_PROCESSES = env_int("WEB_PROCESSES", os.cpu_count() or 1, low=1, high=256)
# Threads per web process that run ordinary requests (config/asgi.py); more requests wait on the
# event loop, holding no database connection. Python runs one thread at a time per process, so
# more threads add no speed; they serve only requests that wait (on the database, the broker).
WEB_THREADS = env_int("WEB_THREADS", 8, low=1, high=256)
# Threads per web process that check passwords (login and signup POSTs, config/asgi.py), apart
# from WEB_THREADS: a burst of logins (Argon2id, ~22 ms of CPU each) queues behind itself and
# never takes the threads that serve the other learners' pages.
WEB_PASSWORD_THREADS = env_int("WEB_PASSWORD_THREADS", 1, low=1, high=64)
# How far below the pages those threads run (a nice increment, per thread on Linux): the CPU goes
# to the pages of the learners already in, and logins take what is left (docs/PERFORMANCE.md).
WEB_PASSWORD_NICENESS = env_int("WEB_PASSWORD_NICENESS", 10, low=0, high=19)
# The queues a worker started by the process files consumes: `lab` alone for a worker added on
# another host for the lab (docs/DEPLOY.md). Read by the Procfile's worker line; checked here,
# where the worker loads the settings, so that a typo stops it instead of creating a queue that
# nothing is ever sent to.
WORKER_QUEUES = env_list("WORKER_QUEUES", ["celery", "lab"])
for queue in WORKER_QUEUES:
    if queue not in {"celery", "lab"}:
        raise ImproperlyConfigured(
            f"WORKER_QUEUES has {queue!r}: the app sends tasks to the queues celery and lab only; "
            "use a comma-separated list of those, for example lab or celery,lab."
        )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
