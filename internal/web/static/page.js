// Small page helpers: copy buttons (shown only when the clipboard can be
// used) and relative times kept fresh.
(function () {
  "use strict";
  if (navigator.clipboard) {
    document.querySelectorAll("button[data-copy]").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () {
        var input = document.getElementById(b.dataset.copy);
        if (!input) return;
        navigator.clipboard.writeText(input.value).then(function () {
          var text = b.textContent;
          b.textContent = "Copied";
          setTimeout(function () { b.textContent = text; }, 1500);
        });
      });
    });
  }
})();
