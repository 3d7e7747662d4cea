// The Artifacts page: choosing a type filters at once (the button stays for no-script use).
(function () {
  const select = document.getElementById("type-filter");
  if (select) select.addEventListener("change", () => select.form.submit());
  document.body.dataset.ready = "true";
})();
