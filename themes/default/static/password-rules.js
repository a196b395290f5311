// Ticks each password rule as it is met and keeps the button disabled until all are.
// Only an aid: the server checks the same rules (and the ones a browser cannot: the blocklist
// and personal data) and says which one failed. Without this script the form works as well.
(function () {
  "use strict";
  var form = document.getElementById("password-form");
  if (!form) { return; }
  var rules = JSON.parse(form.getAttribute("data-rules") || "{}");
  var password = document.getElementById("password");
  var repeat = document.getElementById("password_repeat");
  var button = document.getElementById("password-submit");
  var checks = {
    min_length: function (p) { return Array.from(p).length >= rules.min_length; },
    upper: function (p) { return /\p{Lu}/u.test(p); },
    lower: function (p) { return /\p{Ll}/u.test(p); },
    digit: function (p) { return /[0-9]/.test(p); },
    special: function (p) {
      var set = rules.required_specials || "";
      return Array.from(p).some(function (c) { return set.indexOf(c) >= 0; });
    },
    match: function (p) { return p.length > 0 && p === repeat.value; }
  };
  function update() {
    var all = true;
    form.querySelectorAll("li[data-rule]").forEach(function (item) {
      var check = checks[item.getAttribute("data-rule")];
      if (!check) { return; } // judged by the server only
      var ok = check(password.value);
      item.classList.toggle("met", ok);
      item.querySelector(".tick").textContent = ok ? "\u2713" : "";
      all = all && ok;
    });
    button.disabled = !all;
  }
  password.addEventListener("input", update);
  repeat.addEventListener("input", update);
  update();
})();
