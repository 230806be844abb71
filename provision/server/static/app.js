// provision: live updates by polling small JSON endpoints (no framework).
"use strict";
(function () {
  const DONE = new Set(["ready", "failed", "expired"]);
  function text(el, key, value) {
    el.querySelectorAll('[data-bind="' + key + '"]').forEach(function (n) {
      n.textContent = value === null || value === undefined ? "—" : String(value);
    });
  }
  function fmtEta(s) {
    if (s === null || s === undefined) return "—";
    s = Math.max(0, Math.round(s));
    return s < 60 ? s + " s" : Math.floor(s / 60) + " min " + (s % 60) + " s";
  }
  // <div data-poll="/api/v1/orders/3"> with <progress> and [data-bind=state|eta] inside.
  document.querySelectorAll("[data-poll]").forEach(function (box) {
    const url = box.getAttribute("data-poll");
    async function tick() {
      let data;
      try {
        const r = await fetch(url, { headers: { Accept: "application/json" } });
        if (!r.ok) return setTimeout(tick, 5000);
        data = await r.json();
      } catch (e) { return setTimeout(tick, 5000); }
      const bar = box.querySelector("progress");
      if (bar) bar.value = data.progress || 0;
      text(box, "state", data.state || data.phase);
      text(box, "eta", fmtEta(data.eta));
      const log = box.querySelector("pre[data-bind-log]");
      if (log && typeof data.log_tail === "string") log.textContent = data.log_tail;
      const finished = DONE.has(data.state) || data.running === false;
      if (finished && box.hasAttribute("data-reload-when-done")) {
        if (box.getAttribute("data-was-active") === "1") location.reload();
        return;
      }
      box.setAttribute("data-was-active", "1");
      setTimeout(tick, 1500);
    }
    tick();
  });
  // <ol data-events="/api/v1/hosts/MAC" data-after="N">: append new events as they arrive.
  document.querySelectorAll("ol[data-events]").forEach(function (list) {
    const url = list.getAttribute("data-events");
    async function tick() {
      try {
        const after = list.getAttribute("data-after") || "0";
        const r = await fetch(url + "?after=" + after, { headers: { Accept: "application/json" } });
        if (r.ok) {
          const data = await r.json();
          document.querySelectorAll('[data-bind="host-state"]').forEach(function (n) {
            n.textContent = data.host.state;
            n.className = "state state-" + data.host.state;
          });
          const nextBoot = data.host.boot_local ? "local disk"
            : (data.host.wipe ? "installer (wipes the disk)" : "installer");
          document.querySelectorAll('[data-bind="next-boot"]').forEach(function (n) {
            n.textContent = nextBoot;
          });
          data.events.forEach(function (ev) {
            const li = document.createElement("li");
            li.className = "kind-" + ev.kind;
            const when = new Date(ev.time * 1000).toISOString().replace("T", " ").slice(0, 19);
            const head = document.createElement("div");
            head.textContent = when + " UTC  " + ev.kind + (ev.step ? " · " + ev.step : "") +
              (ev.progress !== null ? " · " + Math.round(ev.progress * 100) + "%" : "") +
              (ev.message ? " — " + ev.message : "");
            li.appendChild(head);
            if (ev.log_tail) {
              const pre = document.createElement("pre");
              pre.textContent = ev.log_tail;
              li.appendChild(pre);
            }
            list.appendChild(li);
            list.setAttribute("data-after", String(ev.id));
            if (ev.progress !== null) {
              document.querySelectorAll('[data-bind="host-progress"]').forEach(function (bar) {
                bar.value = ev.progress;
              });
              document.querySelectorAll('[data-bind="host-step"]').forEach(function (n) {
                n.textContent = Math.round(ev.progress * 100) + "% · " + (ev.step || "");
              });
            }
          });
          const none = document.getElementById("no-events");
          if (none && data.events.length) none.remove();
        }
      } catch (e) { /* try again */ }
      setTimeout(tick, 1500);
    }
    tick();
  });
  // <table data-hosts-poll="/api/v1/hosts"> with <tr data-mac>: states and install progress
  // follow the hosts as they boot; a host that appears reloads the list.
  document.querySelectorAll("table[data-hosts-poll]").forEach(function (table) {
    const url = table.getAttribute("data-hosts-poll");
    async function tick() {
      try {
        const r = await fetch(url, { headers: { Accept: "application/json" } });
        if (r.ok) {
          const data = await r.json();
          for (const h of data.hosts) {
            const row = table.querySelector('tr[data-mac="' + h.mac + '"]');
            if (!row) { location.reload(); return; }
            row.querySelectorAll('[data-bind="host-state"]').forEach(function (n) {
              n.textContent = h.state;
              n.className = "state state-" + h.state;
            });
            row.querySelectorAll('[data-bind="host-progress"]').forEach(function (bar) {
              bar.value = h.progress === null ? 0 : h.progress;
            });
            row.querySelectorAll('[data-bind="host-step"]').forEach(function (n) {
              n.textContent = h.step || "";
            });
          }
        }
      } catch (e) { /* try again */ }
      setTimeout(tick, 2000);
    }
    tick();
  });
})();
