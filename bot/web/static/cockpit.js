// NIJA cockpit: keep the page's live part fresh without a reload, and send the operator's controls.
// Every few seconds ask the server whether the store changed; when it did, fetch this page's live part
// (the same server-rendered HTML) and swap it in. Paused while the tab is hidden.
(function () {
  "use strict";
  var body = document.body;
  var every = Math.max(500, 1000 * parseFloat(body.dataset.refresh || "2"));
  var version = body.dataset.version || "";
  var busy = false;

  function refresh(force) {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch("/ui/version", { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (v) {
        if (!v) { return null; }
        var status = document.getElementById("bot-status");
        if (status) {
          status.textContent = v.running ? "● running" : "■ stopped";
          status.className = "pill " + (v.running ? "good" : "bad");
          status.title = v.text;
        }
        var line = document.getElementById("bot-line");
        if (line && v.line) { line.textContent = v.line; }
        if (!force && String(v.version) === version) { return null; }
        version = String(v.version);
        var live = document.getElementById("live");
        return fetch(live.dataset.fragment, { cache: "no-store", credentials: "same-origin",
                                               headers: { "X-Fragment": "1" } })
          .then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) { if (html !== null) { live.innerHTML = html; } });
      })
      .catch(function () { /* the bot may be restarting: try again next time */ })
      .then(function () { busy = false; });
  }

  function token() {
    var saved = sessionStorage.getItem("nija-token");
    if (saved) { return saved; }
    var given = window.prompt("Token (WEB_TOKEN) for the controls:");
    if (given) { sessionStorage.setItem("nija-token", given); }
    return given;
  }

  function control(button) {
    var kind = button.dataset.control;
    var url, payload;
    if (kind === "block" || kind === "unblock") {
      url = "/api/v1/controls/entries";
      payload = { blocked: kind === "block" };
    } else {
      url = "/api/v1/controls/accounts/" + encodeURIComponent(button.dataset.broker) + "/" +
        encodeURIComponent(button.dataset.account);
      payload = { paused: kind === "pause" };
    }
    if (kind === "block" || kind === "pause") {
      var reason = window.prompt("Why? (recorded in the control log; exits keep working)", "");
      if (reason === null) { return; }
      payload.reason = reason;
    }
    var secret = token();
    if (!secret) { return; }
    payload.actor = sessionStorage.getItem("nija-actor") || "web";
    fetch(url, { method: "POST", credentials: "same-origin",
                 headers: { "Content-Type": "application/json", "Authorization": "Bearer " + secret },
                 body: JSON.stringify(payload) })
      .then(function (r) {
        if (r.status === 401 || r.status === 403) { sessionStorage.removeItem("nija-token"); }
        return r.json().then(function (answer) {
          if (!r.ok) { window.alert(answer.detail || ("refused: HTTP " + r.status)); }
        });
      })
      .then(function () { refresh(true); });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-control]");
    if (button) { event.preventDefault(); control(button); }
  });
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit]")) { event.target.form.submit(); }
  });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(false); } });
  window.setInterval(function () { refresh(false); }, every);
}());
