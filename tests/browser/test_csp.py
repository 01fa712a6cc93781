"""The Content-Security-Policy in a real browser: inline code is refused, and the watcher that
fails every browser test on a violation (conftest.py) does see one."""

import pytest

from tests.browser import conftest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_inline_code_is_refused_and_the_violation_is_reported(page, curriculum):
    page.goto("/")
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.inlineRan = true";
          document.body.append(script);
          document.body.setAttribute("style", "background: red");
        }"""
    )
    page.wait_for_function("() => true")  # one more round trip: the violation events arrive

    assert page.evaluate("window.inlineRan") is None, "the inline script ran"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(255, 0, 0)"
    reported = " ".join(conftest.CSP_VIOLATIONS)
    assert "script-src-elem blocked inline" in reported
    assert "style-src-attr blocked inline" in reported
    conftest.CSP_VIOLATIONS.clear()  # expected here, so that this test itself passes
