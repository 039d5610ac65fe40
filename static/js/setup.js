// Copy buttons: <button class="copy" data-copy="#element-id"> copies that element's text.
document.addEventListener("click", function (event) {
  var button = event.target.closest("button.copy");
  if (!button) return;
  var source = document.querySelector(button.getAttribute("data-copy"));
  if (!source) return;
  var text = source.innerText;
  function done() {
    var label = button.textContent;
    button.textContent = "Copied";
    button.classList.add("copied");
    setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 1500);
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () { fallback(); });
  } else {
    fallback();
  }
  function fallback() {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); done(); } finally { document.body.removeChild(area); }
  }
});

// data-confirm forms ask once, in static/js/forms.js (loaded by every page).

// A form that is being sent disables its submit buttons, so a second click sends nothing
// (the server also answers a repeated form token with the first answer).
document.addEventListener("submit", function (event) {
  if (event.defaultPrevented) return;
  var form = event.target;
  if (form.hasAttribute("hx-post") || form.method.toLowerCase() !== "post") return;
  setTimeout(function () {
    form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (b) { b.disabled = true; });
  }, 0);
});
