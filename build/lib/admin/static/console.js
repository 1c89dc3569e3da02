// Mandate console: the little the pages need beyond htmx. Served from our own origin (the
// Content-Security-Policy allows no inline script); every page works without it.
(function () {
  "use strict";

  // A money form whose answer never arrived may or may not have moved the money. Say so, and
  // that sending it again is safe: the form's idempotency key makes it one transfer at most.
  document.addEventListener("htmx:sendError", function (event) {
    var form = event.target && event.target.closest ? event.target.closest("form") : null;
    var notice = form ? form.querySelector("[data-network-error]") : null;
    if (notice) {
      notice.hidden = false;
    }
  });

  // "Chosen accounts" shows the account list; "all accounts" hides it.
  function syncScope(root) {
    root.querySelectorAll("[data-scope-accounts]").forEach(function (box) {
      var form = box.closest("form");
      var listed = form && form.querySelector("input[name=scope][value=listed]");
      box.hidden = !(listed && listed.checked);
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target && event.target.name === "scope") {
      syncScope(document);
    }
  });
  document.addEventListener("DOMContentLoaded", function () { syncScope(document); });
  document.addEventListener("htmx:load", function (event) { syncScope(event.target); });

  // Buttons that end something (deactivate, revoke, delete) ask first.
  document.addEventListener("click", function (event) {
    var button = event.target && event.target.closest ? event.target.closest("[data-confirm]") : null;
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
})();
