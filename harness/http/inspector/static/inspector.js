// The inspector's progressive JavaScript: every page works without it; with it, the live
// events page follows the Server-Sent Events stream, and can be paused.
"use strict";

(function () {
  function text(value) {
    return JSON.stringify(value, null, 2);
  }

  function fill(item, event) {
    item.dataset.id = event.id;
    item.dataset.types = event.types.join(" ");
    item.dataset.account = event.account_id || "";
    item.className = "event new kind-" + event.kind + " fake-" + event.fake;
    var fields = {
      at: event.at,
      fake: event.fake === "segment" ? "Segment" : "AB Tasty",
      types: event.types.join(", ") || event.kind,
      path: event.method + " " + event.path,
      status: String(event.status),
      summary: event.summary,
      body: text(event.body),
      response: text(event.response),
      where: (event.account_id ? "Account " + event.account_id + ". " : "") +
        (event.source_id ? "Source " + event.source_id + "." : "")
    };
    item.querySelectorAll("[data-f]").forEach(function (node) {
      node.textContent = fields[node.dataset.f];
    });
    var time = item.querySelector("time");
    time.setAttribute("datetime", event.at);
    item.querySelector(".status").className = "status status-" + String(event.status)[0] + "xx";
    return item;
  }

  function liveEvents() {
    var list = document.querySelector("[data-events]");
    if (!list || !window.EventSource) { return; }
    var template = document.getElementById("event-template");
    var status = document.querySelector("[data-live-status]");
    var pause = document.querySelector("[data-pause]");
    var form = document.querySelector("[data-live-filters]");
    var paused = false;
    var held = [];
    var params = new URLSearchParams(new FormData(form));
    params.set("after", list.dataset.cursor);
    var source = new EventSource(list.dataset.stream + "?" + params.toString());

    function show(event) {
      var empty = list.querySelector("[data-empty]");
      if (empty) { empty.remove(); }
      var item = template.content.firstElementChild.cloneNode(true);
      list.insertBefore(fill(item, event), list.firstChild);
    }

    function say(message) { status.textContent = message; }

    pause.hidden = false;
    pause.addEventListener("click", function () {
      paused = !paused;
      pause.setAttribute("aria-pressed", String(paused));
      pause.textContent = paused ? "Resume" : "Pause";
      if (!paused) {
        held.forEach(show);
        held = [];
        say("Live: new events appear at the top.");
      } else {
        say("Paused: new events are held until you resume.");
      }
    });
    form.querySelectorAll("select").forEach(function (select) {
      select.addEventListener("change", function () { form.requestSubmit(); });
    });
    source.addEventListener("open", function () {
      if (!paused) { say("Live: new events appear at the top."); }
    });
    source.addEventListener("request", function (message) {
      var event = JSON.parse(message.data);
      if (paused) {
        held.push(event);
        say("Paused: " + held.length + " new event(s) held until you resume.");
      } else {
        show(event);
      }
    });
    source.addEventListener("error", function () {
      say("Reconnecting to the live stream…");
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  document.addEventListener("DOMContentLoaded", liveEvents);
})();
