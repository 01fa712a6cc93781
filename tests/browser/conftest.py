"""Browser tests: Playwright for Python driving Debian's chromium against pytest-django's live server.

Playwright's sync API runs an event loop in the test thread while it is open, and Django refuses
ORM calls from a thread with a running loop. The browser is therefore opened per module, and
only while it is open are those calls allowed: the test thread's ORM use here is plain setup.
"""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import expect, sync_playwright

from tests.conftest import OUTPUT_DIR
from tests.web_process import WebProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = OUTPUT_DIR / "screenshots"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield CspWatchedBrowser(browser)
        browser.close()


# --- No Content-Security-Policy violation on any page a browser test opens ------------------
# Each violation is reported twice by chromium: as a `securitypolicyviolation` event in the page
# (https://developer.mozilla.org/en-US/docs/Web/API/SecurityPolicyViolationEvent), relayed here
# by an init script, and as a console error ("Refused to ... Content Security Policy ...").
# htmx code that needs eval, which the policy forbids, is reported too.

CSP_VIOLATIONS: list[str] = []

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportCspViolation(
    `${event.violatedDirective} blocked ${event.blockedURI} ` +
    `at ${event.sourceFile}:${event.lineNumber} on ${document.location.pathname}`
  );
});
// htmx with allowEval off (base.html) refuses hx-on, js: values and trigger filters this way.
document.addEventListener("htmx:evalDisallowedError", (event) => {
  window.reportCspViolation(
    `htmx refused to evaluate code of ${event.target.outerHTML.slice(0, 120)} ` +
    `on ${document.location.pathname}`
  );
});
"""


class CspWatchedBrowser:
    """The browser, with every context it opens watched for CSP violations."""

    def __init__(self, browser):
        self._browser = browser

    def __getattr__(self, name):
        return getattr(self._browser, name)

    def new_context(self, **kwargs):
        context = self._browser.new_context(**kwargs)
        context.expose_function("reportCspViolation", record_violation)
        context.add_init_script(REPORT_VIOLATIONS)
        context.on("page", lambda page: page.on("console", lambda message: record_console(page, message)))
        return context


def record_violation(text: str) -> None:
    CSP_VIOLATIONS.append(text)


def record_console(page, message) -> None:
    if message.type == "error" and "Content Security Policy" in message.text:
        CSP_VIOLATIONS.append(f"console on {page.url}: {message.text}")


@pytest.fixture(autouse=True)
def no_csp_violation():
    """Fails the test (at teardown, after its pages closed) if any page reported a violation."""
    CSP_VIOLATIONS.clear()
    yield
    if CSP_VIOLATIONS:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(CSP_VIOLATIONS))


@pytest.fixture
def curriculum(transactional_db):
    call_command("content", "sync", stdout=StringIO())


def new_page(browser, live_server, *, width=1100, height=900):
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=live_server.url)
    context.set_default_timeout(10_000)
    return context.new_page()


@pytest.fixture
def page(browser, live_server):
    page = new_page(browser, live_server)
    yield page
    page.context.close()


@pytest.fixture
def phone(browser, live_server):
    page = new_page(browser, live_server, width=390, height=844)
    yield page
    page.context.close()


def log_in(page, username: str, password: str = "pw") -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username:").fill(username)
    page.get_by_label("Password:").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main")).to_contain_text(username)


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # caret="initial": hiding the caret leaves an empty style="" on every input, which htmx then
    # copies onto swapped-in inputs, and that copy is a CSP violation (style-src-attr).
    page.screenshot(path=path, full_page=True, caret="initial")
    return path


@pytest.fixture(scope="module")
def asgi_server(django_db_setup, django_db_blocker):
    """uvicorn serving the app (ASGI, so server-sent events stream) on the test database.

    pytest-django's live_server is WSGI, which would buffer an event stream to its end.
    """
    server = WebProcess("browser")
    yield server.url
    server.stop()
