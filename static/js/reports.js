// Reports screen: editing From/To switches the range to Custom, so the dates typed are the dates shown.
document.addEventListener("change", function (event) {
  var input = event.target;
  if (!input.matches || !input.matches(".report-controls input[type=date]")) return;
  var range = input.form.querySelector("select[name=range]");
  if (range) range.value = "custom";
});
