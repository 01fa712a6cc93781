// After an htmx swap, focus goes to the new content instead of falling back to the top of the
// page (issue 16, item 7): a keyboard or screen-reader user lands on what just appeared.
// With form errors, the first field to fix gets it; else what the swapped region names with
// `data-swap-focus` (a verdict, a score, a hint, the next question); else the region itself.
// htmx already puts focus back on a focused element that has an id (an option changed on the
// test page), so this acts only when the focus was lost with the old content.
(function () {
  "use strict";

  function focusTarget(region) {
    var error = region.querySelector(".errorlist:not(:empty)");
    var group = error && (error.closest("fieldset, div, form") || region);
    var field = group && (
      group.querySelector('input:not([type="hidden"]):checked') ||
      group.querySelector('input:not([type="hidden"]), textarea, select')
    );
    if (field) return field;
    var named = region.matches("[data-swap-focus]") ? region : region.querySelector("[data-swap-focus]");
    return named || region;
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    var region = event.target;
    if (!(region instanceof Element) || !region.isConnected) return;
    var active = document.activeElement;
    if (active && active !== document.body && active.isConnected) return;
    var target = focusTarget(region);
    if (!target.matches("a[href], button, input, textarea, select, [tabindex]")) target.setAttribute("tabindex", "-1");
    target.focus();
  });
})();
