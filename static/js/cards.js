// Flashcards: reveal without a round trip, and keyboard shortcuts.
// Space shows the answer; 1-4 rate Again, Hard, Good, Easy; U undoes the last rating. Everything here is also reachable
// without JavaScript: "Show answer" is a GET form and the ratings are a plain POST form.
(function () {
  "use strict";

  function panel() {
    return document.getElementById("card-panel");
  }

  function reveal() {
    var p = panel();
    if (!p || p.dataset.revealed === "true") return false;
    var back = p.querySelector(".card-back");
    var rateForm = p.querySelector(".rate-form");
    var revealForm = p.querySelector(".reveal-form");
    if (!back || !rateForm) return false;
    back.hidden = false;
    rateForm.hidden = false;
    if (revealForm) revealForm.hidden = true;
    p.dataset.revealed = "true";
    // The focused "Show answer" button is now hidden: move focus to the answer so keyboard and
    // screen-reader users land on what just appeared.
    back.focus();
    return true;
  }

  function isTyping(target) {
    return target.closest && target.closest("input, textarea, select, [contenteditable]");
  }

  document.addEventListener("submit", function (event) {
    if (event.target.classList.contains("reveal-form") && reveal()) {
      event.preventDefault();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || isTyping(event.target)) return;
    var p = panel();
    if (!p) return;
    if (event.key === " " || event.key === "Spacebar") {
      // Space on a focused button or link keeps its usual meaning.
      if (event.target.closest("button, a, summary")) return;
      if (reveal()) event.preventDefault();
      return;
    }
    if (event.key === "u" || event.key === "U") {
      var undo = p.querySelector(".undo-form button");
      if (undo && !undo.disabled) {
        event.preventDefault();
        undo.click();
      }
      return;
    }
    if (/^[1-4]$/.test(event.key) && p.dataset.revealed === "true") {
      var button = p.querySelector('.rate-form button[data-key="' + event.key + '"]');
      if (button && !button.disabled) {
        event.preventDefault();
        button.click();
      }
    }
  });

  // After htmx swaps in the next card, put focus where the next action is. `htmx:load` fires on
  // the new panel itself; the swap events fire on the replaced (detached) one.
  document.addEventListener("htmx:load", function (event) {
    var p = event.detail.elt;
    if (!p || p.id !== "card-panel") return;
    var next = p.querySelector(".form-errors") ? p.querySelector(".rate-form button") : null;
    next = next || p.querySelector(".reveal-button") || p.querySelector(".all-done a") ||
      p.querySelector(".undo-form button");
    if (next) next.focus();
  });

  // Stop a second click from posting the same rating while the first is in flight.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt.closest && event.detail.elt.closest(".rate-form, .undo-form");
    if (form) form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
  });
})();
