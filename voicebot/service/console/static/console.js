// The live view reloads its tables by itself: fetch the part, swap it in (the server has
// escaped everything in it). Without script, a <noscript> refresh reloads the page.
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box) { return; }
  var every = Math.max(1, parseInt(box.getAttribute("data-every") || "3", 10)) * 1000;
  function reload() {
    fetch(box.getAttribute("data-part"), { credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected || response.status === 401) {
          window.location.reload();  // the session ended: the page goes to the login
          return null;
        }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        if (html !== null) { box.innerHTML = html; box.classList.remove("stale"); }
      })
      .catch(function () { box.classList.add("stale"); })
      .then(function () { window.setTimeout(reload, every); });
  }
  window.setTimeout(reload, every);
}());
