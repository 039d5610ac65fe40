// Behaviour that would otherwise be inline script (the Content-Security-Policy admits none).

// <form data-confirm="Question?">: ask before submitting; cancel keeps the page as it is.
document.addEventListener("submit", function (event) {
  var form = event.target.closest && event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.getAttribute("data-confirm"))) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);

// data-swap-400 on the requesting element or the target: a 400 answer carries the form with its
// errors, so htmx swaps it in like a success instead of dropping it.
document.addEventListener("htmx:beforeSwap", function (event) {
  var detail = event.detail;
  if (!detail || !detail.xhr || detail.xhr.status !== 400) return;
  var marked = function (el) { return el && el.closest && el.closest("[data-swap-400]"); };
  if (marked(detail.elt) || marked(event.target)) {
    detail.shouldSwap = true;
    detail.isError = false;
  }
});
