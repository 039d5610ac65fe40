// The deck's only script: turn live frames into refresh signals the panels listen for
// (hx-trigger "xt-events"/"xt-deliveries" with a delay, which debounces bursts), and keep the
// feed list short. Everything else is htmx attributes.
(function () {
  var FEED_MAX = 60;
  document.body.addEventListener("htmx:wsAfterMessage", function (e) {
    var message = e.detail.message || "";
    if (message.indexOf('data-signal="event"') >= 0) htmx.trigger(document.body, "xt-events");
    if (message.indexOf('data-signal="delivery"') >= 0) htmx.trigger(document.body, "xt-deliveries");
    var rows = document.getElementById("feed-rows");
    if (rows) {
      while (rows.children.length > FEED_MAX) rows.removeChild(rows.lastElementChild);
      var empty = document.querySelector("#feed .empty");
      if (empty && rows.children.length) empty.remove();
    }
  });
  document.body.addEventListener("htmx:wsOpen", function () { document.body.classList.add("live"); });
  document.body.addEventListener("htmx:wsClose", function () { document.body.classList.remove("live"); });
})();
