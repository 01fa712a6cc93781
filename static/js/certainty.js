// Certainty on the practice and test pages: L, M and H pick low, medium and high certainty
// (the keys are stated on the page; cards use Space and 1-4, so nothing clashes). Without
// JavaScript the radios work as they are and the server asks for what is missing.
(function () {
  "use strict";

  var LEVELS = { l: "low", m: "medium", h: "high" };

  // Radios and checkboxes take no letters, so a key pressed while an option has focus is ours.
  function isTyping(target) {
    return target.closest &&
      target.closest('textarea, select, [contenteditable], input:not([type="radio"]):not([type="checkbox"])');
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || isTyping(event.target)) return;
    var level = LEVELS[(event.key || "").toLowerCase()];
    if (!level) return;
    var input = document.querySelector('fieldset.certainty input[value="' + level + '"]');
    if (!input || input.disabled) return;
    event.preventDefault();
    // click() checks the radio and fires "change", which saves a test answer like a mouse click.
    if (!input.checked) input.click();
    input.focus();
  });

  // A test answer is saved on every change, but it counts only with an option and a certainty:
  // until both are chosen, say what is missing instead of sending a request the server refuses.
  // "Save and next" still posts, so the server's message covers a learner who skips ahead.
  document.addEventListener("htmx:confirm", function (event) {
    var form = event.detail.elt;
    var trigger = event.detail.triggeringEvent;
    if (!form.matches || !form.matches("form.certainty-required") || !trigger || trigger.type !== "change") return;
    var hasOption = form.querySelector('input[name="options"]:checked');
    var hasCertainty = form.querySelector('input[name="certainty"]:checked');
    if (hasOption && hasCertainty) return;
    event.preventDefault();
    var status = form.querySelector(".save-status");
    if (!status) return;
    status.textContent = hasOption
      ? "Not saved yet: say how sure you are (L low, M medium, H high)."
      : "Not saved: choose at least one option to save this answer.";
  });
})();
