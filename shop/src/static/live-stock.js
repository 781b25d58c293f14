// Live stock on a product page: listens to the page's Server-Sent Events stream and updates the
// stock line (and the "being refreshed" banner). Text only (textContent), never HTML. Without
// JavaScript, or when the stream is refused, the page simply shows what it was served with.
(function () {
  "use strict";
  var line = document.getElementById("stock");
  if (!line || !line.dataset.events || !window.EventSource) {
    return;
  }
  var banner = document.getElementById("refreshing-banner");
  var source = new EventSource(line.dataset.events);
  source.addEventListener("stock", function (event) {
    var state;
    try {
      state = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (typeof state.text === "string") {
      line.textContent = state.text;
    }
    if (typeof state.level === "string") {
      line.dataset.level = state.level;
    }
    if (banner) {
      banner.hidden = !state.refreshing;
    }
    document.documentElement.dataset.liveStock = "on";
  });
})();
