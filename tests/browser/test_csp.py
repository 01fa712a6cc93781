"""The Content-Security-Policy in a real browser: inline code is refused, htmx evaluates no
attribute code, and the watcher that fails every browser test on either (conftest.py) sees them."""

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


def test_htmx_refuses_attribute_code_and_the_refusal_is_reported(page, curriculum):
    page.goto("/")
    page.evaluate(
        """() => {
          const button = document.createElement("button");
          button.id = "eval-probe";
          button.setAttribute("hx-on:click", "window.hxOnRan = true");
          document.body.append(button);
          htmx.process(button);
        }"""
    )
    page.click("#eval-probe")
    page.wait_for_function("() => true")

    assert page.evaluate("window.hxOnRan") is None, "htmx evaluated the hx-on code"
    assert "htmx refused to evaluate code" in " ".join(conftest.CSP_VIOLATIONS)
    conftest.CSP_VIOLATIONS.clear()
