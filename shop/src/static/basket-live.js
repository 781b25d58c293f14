// Live stock on the basket page: listens to the basket's Server-Sent Events stream and updates each
// line's stock flag ("Only N available now", "No longer available") and the "being refreshed"
// banner. Text only (textContent), never HTML. Without JavaScript the page shows what it was served.
(function () {
  "use strict";
  var basket = document.getElementById("basket");
  if (!basket || !basket.dataset.events || !window.EventSource) {
    return;
  }
  var banner = document.getElementById("refreshing-banner");
  var source = new EventSource(basket.dataset.events);
  source.addEventListener("basket", function (event) {
    var state;
    try {
      state = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    var flags = document.querySelectorAll("[data-flag-for]");
    (state.lines || []).forEach(function (line) {
      for (var i = 0; i < flags.length; i++) {
        if (flags[i].dataset.flagFor === line[0]) {
          flags[i].textContent = line[1];
          flags[i].hidden = !line[1];
        }
      }
    });
    if (banner) {
      banner.hidden = !state.refreshing;
    }
    document.documentElement.dataset.liveBasket = "on";
  });
})();
