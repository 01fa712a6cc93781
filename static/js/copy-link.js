// A "Copy link" button next to a read-only field (the cohort's join link). The button stays
// hidden without JavaScript, where selecting the field by hand is the way. Where the async
// clipboard is missing (a page served over plain http from another host is not a secure context)
// or refuses, the field's text is selected and copied the old way, or the page says to press
// Ctrl+C: https://developer.mozilla.org/en-US/docs/Web/API/Clipboard_API#security_considerations
(function () {
  "use strict";

  function say(button, text) {
    var status = document.getElementById(button.dataset.copyStatus);
    if (status) status.textContent = text;
  }

  function copyBySelecting(button, field) {
    field.focus();
    field.select();
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    say(button, copied ? "Copied." : "The link is selected: press Ctrl+C (⌘C on a Mac) to copy it.");
  }

  function copy(button) {
    var field = document.getElementById(button.dataset.copy);
    if (!field) return;
    if (!navigator.clipboard || !window.isSecureContext) {
      copyBySelecting(button, field);
      return;
    }
    navigator.clipboard.writeText(field.value).then(
      function () { say(button, "Copied."); },
      function () { copyBySelecting(button, field); }
    );
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { copy(button); });
  });
})();
