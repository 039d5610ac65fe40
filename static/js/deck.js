// The deck's only script: turn live frames into refresh signals the panels listen for
// (hx-trigger "xt-events"/"xt-deliveries" with a delay, which debounces bursts), keep the feed
// list short, and give browsers without WebSocket the same stream over Server-Sent Events.
// Everything else is htmx attributes.
(function () {
  var FEED_MAX = 60;

  function onFrame(message) {
    message = message || "";
    if (message.indexOf('data-signal="event"') >= 0) htmx.trigger(document.body, "xt-events");
    if (message.indexOf('data-signal="delivery"') >= 0) htmx.trigger(document.body, "xt-deliveries");
    var rows = document.getElementById("feed-rows");
    if (rows) {
      while (rows.children.length > FEED_MAX) rows.removeChild(rows.lastElementChild);
      var empty = document.querySelector("#feed .empty");
      if (empty && rows.children.length) empty.remove();
    }
  }

  // This script runs before htmx processes the page, so switching the feed's extension here is
  // enough: htmx then opens an EventSource instead of a socket. The frames are the same
  // out-of-band swaps; the hidden sink only gives the sse extension an element to swap into.
  var feed = document.getElementById("feed");
  if (feed && !("WebSocket" in window) && "EventSource" in window && feed.dataset.sse) {
    feed.removeAttribute("ws-connect");
    feed.setAttribute("hx-ext", "sse");
    feed.setAttribute("sse-connect", feed.dataset.sse);
    var sink = document.createElement("div");
    sink.hidden = true;
    sink.setAttribute("sse-swap", "feed");
    sink.setAttribute("hx-swap", "none");
    feed.appendChild(sink);
  }

  document.body.addEventListener("htmx:wsAfterMessage", function (e) { onFrame(e.detail.message); });
  document.body.addEventListener("htmx:sseMessage", function (e) { onFrame(e.detail.data); });
  document.body.addEventListener("htmx:wsOpen", function () { document.body.classList.add("live"); });
  document.body.addEventListener("htmx:wsClose", function () { document.body.classList.remove("live"); });
  document.body.addEventListener("htmx:sseOpen", function () { document.body.classList.add("live"); });
  document.body.addEventListener("htmx:sseError", function () { document.body.classList.remove("live"); });
})();

// Filters: editing a date switches the range to Custom; a relative range sends no dates, so a
// shared URL stays relative; the address bar shows the filters the deck really used.
(function () {
  var form = document.getElementById("filters");
  if (!form) return;
  var range = document.getElementById("range-filter");
  ["from-filter", "to-filter"].forEach(function (id) {
    var input = document.getElementById(id);
    if (input && range) input.addEventListener("change", function () { range.value = "custom"; });
  });
  var link = document.getElementById("link-filter");
  if (link) link.addEventListener("change", function () { form.requestSubmit(); });
  if (range) range.addEventListener("change", function () { if (range.value !== "custom") form.requestSubmit(); });
  form.addEventListener("submit", function () {
    if (range && range.value !== "custom") {
      document.getElementById("from-filter").disabled = true;
      document.getElementById("to-filter").disabled = true;
    }
    if (link && !link.value) link.disabled = true;
  });
  var canonical = form.getAttribute("data-canonical");
  if (canonical && !document.getElementById("filter-error") && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", canonical);
  }
})();
