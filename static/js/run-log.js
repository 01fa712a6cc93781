// The run page's screen-reader log (issue 16, item 2): each pushed state, client call and
// worker event is appended to the role="log" region once, instead of the lanes region being
// re-read whole on every push. What to say comes from the pushed HTML: elements with
// `data-say` and a `data-key` that stays the same for the same row in every push. A lane-1
// reading is said only when its state differs from the last one said (`data-state`).
(function () {
  "use strict";

  function start() {
    var log = document.getElementById("run-log");
    if (!log) return;
    var said = new Set();
    var lastState = null;
    log.querySelectorAll("[data-key]").forEach(function (line) {
      said.add(line.dataset.key);
      if (line.dataset.state) lastState = line.dataset.state;
    });

    function say(item) {
      var key = item.dataset.key;
      if (said.has(key)) return;
      said.add(key);
      var state = item.dataset.state;
      if (state) {
        if (state === lastState) return;
        lastState = state;
      }
      var line = document.createElement("p");
      line.dataset.key = key;
      line.textContent = item.dataset.say;
      if (item.dataset.at) line.dataset.at = item.dataset.at;
      log.insertBefore(line, firstLineAfter(line.dataset.at));
    }

    // Rows can reach the page out of time order: a worker's "received" can be stored before
    // the web process's "published" row that precedes it. A line is put before the first one
    // said for a later moment (and before the verdict), so the log reads in time order.
    function firstLineAfter(at) {
      if (at === undefined) return null;
      var time = parseFloat(at);
      var lines = log.children;
      for (var i = 0; i < lines.length; i++) {
        var other = lines[i];
        if (other.dataset.key === "verdict") return other;
        if (other.dataset.at !== undefined && parseFloat(other.dataset.at) > time) return other;
      }
      return null;
    }

    document.body.addEventListener("htmx:sseMessage", function (event) {
      var region = event.target;
      if (!(region instanceof Element)) return;
      var items = Array.prototype.slice.call(region.querySelectorAll("[data-say]"));
      // The verdict closes the run: said after the lines that led to it.
      items.filter(function (item) { return item.dataset.key !== "verdict"; }).forEach(say);
      items.filter(function (item) { return item.dataset.key === "verdict"; }).forEach(say);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
