// Live updates for the Anxin console: one EventSource, no framework, no build step.
(function () {
  "use strict";
  var body = document.body;
  var i18n = JSON.parse(document.getElementById("i18n").textContent);
  var tz = body.dataset.tz;
  var fmt = new Intl.DateTimeFormat("sv-SE", {
    timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit"
  });
  var newest = null;
  var version = null;

  function when(iso) { return iso ? fmt.format(new Date(iso)).replace("T", " ") : "—"; }

  function updateHome(id, h) {
    var row = document.querySelector('tr[data-home="' + id + '"]');
    if (!row) return;
    var old = row.dataset.state;
    row.className = "st-" + h.state;
    row.dataset.state = h.state;
    var pill = row.querySelector(".state");
    if (pill) { pill.className = "pill state " + h.state; pill.textContent = i18n.states[h.state] || h.state; }
    var last = row.querySelector(".last");
    if (last) { last.textContent = when(h.last); }
    var open = row.querySelector(".open");
    if (open) { open.textContent = String(h.open); open.classList.toggle("count", h.open > 0); }
    if (old && old !== h.state) {
      row.classList.add("flash");
    }
  }

  function toast(a) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var el = document.createElement("div");
    el.className = "toast";
    el.setAttribute("role", "alert");
    var link = document.createElement("a");
    link.href = "/alerts/" + a.id;
    link.textContent = i18n.new_alert + ": " + a.label + " · " + a.kind;
    el.appendChild(link);
    var sub = document.createElement("div");
    sub.className = "sub";
    sub.style.color = "#cfd8e6";
    sub.textContent = a.district;
    el.appendChild(sub);
    box.appendChild(el);
    setTimeout(function () { el.remove(); }, 20000);
  }

  function refreshRegions() {
    var regions = document.querySelectorAll("[data-live]");
    if (!regions.length) return;
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        regions.forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          if (fresh && !el.contains(document.activeElement)) { el.innerHTML = fresh.innerHTML; }
        });
      })
      .catch(function () { /* the next update tries again */ });
  }

  function onUpdate(ev) {
    var d = JSON.parse(ev.data);
    var badge = document.getElementById("open-count");
    if (badge) { badge.textContent = String(d.open_alerts); badge.classList.toggle("zero", d.open_alerts === 0); }
    Object.keys(d.homes).forEach(function (id) { updateHome(id, d.homes[id]); });
    Object.keys(d.counts || {}).forEach(function (st) {
      var c = document.querySelector('[data-count="' + st + '"]');
      if (c) c.textContent = String(d.counts[st]);
    });
    if (newest !== null && d.newest_alert > newest) {
      d.alerts.filter(function (a) { return a.id > newest; }).forEach(toast);
    }
    if (version !== null && d.alerts_version !== version) { refreshRegions(); }
    newest = d.newest_alert;
    version = d.alerts_version;
    body.dataset.liveVersion = String(version);
  }

  if (body.dataset.stream && window.EventSource) {
    var dot = document.getElementById("live");
    var source = new EventSource(body.dataset.stream);
    source.addEventListener("update", onUpdate);
    source.onopen = function () { if (dot) { dot.classList.add("on"); dot.title = i18n.live_on; } };
    source.onerror = function () { if (dot) { dot.classList.remove("on"); dot.title = i18n.live_off; } };
  }

  document.addEventListener("keydown", function (e) {
    var tag = (e.target && e.target.tagName) || "";
    if (e.key === "/" && !/INPUT|TEXTAREA|SELECT/.test(tag)) {
      var q = document.getElementById("q");
      if (q) { e.preventDefault(); q.focus(); }
    }
  });
})();
