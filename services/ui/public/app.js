/** Jetstep dev UI entry: layout, routing, live connection indicator, "Send event" dialog. */
import { api } from "./api.js";
import { apiErrorHtml, installGlobalHandlers, jsonEditor, notFoundHtml, toast } from "./components.js";
import { startRouter } from "./router.js";
import { isConnected, startStream, subscribe } from "./stream.js";
import { esc, refreshTimes } from "./util.js";
import * as appsView from "./views/apps.js";
import * as deadLettersView from "./views/dead-letters.js";
import * as eventView from "./views/event.js";
import * as eventsView from "./views/events.js";
import * as functionView from "./views/function.js";
import * as functionsView from "./views/functions.js";
import * as runView from "./views/run.js";
import * as runsView from "./views/runs.js";

const VIEWS = {
  runs: { view: runsView, nav: "runs", title: "Runs" },
  run: { view: runView, nav: "runs", title: "Run" },
  events: { view: eventsView, nav: "events", title: "Events" },
  event: { view: eventView, nav: "events", title: "Event" },
  functions: { view: functionsView, nav: "functions", title: "Functions" },
  function: { view: functionView, nav: "functions", title: "Function" },
  apps: { view: appsView, nav: "apps", title: "Apps" },
  deadLetters: { view: deadLettersView, nav: "dead-letters", title: "Dead letters" },
};

const main = document.getElementById("app");
let current = null; // AbortController of the mounted view

function show(route) {
  current?.abort();
  current = new AbortController();
  const entry = VIEWS[route.name];
  for (const a of document.querySelectorAll("[data-nav]")) {
    const active = entry && a.dataset.nav === entry.nav;
    a.classList.toggle("active", active);
    if (active) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `${entry ? entry.title : "Not found"} · Jetstep`;
  main.scrollTop = 0;
  if (!entry) {
    main.innerHTML = notFoundHtml("Page", `Nothing at ${route.path}.`);
    return;
  }
  try {
    entry.view.render(main, route.params, current.signal);
  } catch (e) {
    console.error(e);
    main.innerHTML = apiErrorHtml(e);
  }
}

function setupSendEvent() {
  const dialog = document.getElementById("send-event-dialog");
  const form = dialog.querySelector("form");
  const ta = document.getElementById("send-event-json");
  const jsonSlot = document.getElementById("send-event-json-error");
  const errSlot = document.getElementById("send-event-error");
  const read = jsonEditor(ta, jsonSlot);

  document.querySelector("[data-testid=send-event-button]").addEventListener("click", () => {
    errSlot.innerHTML = "";
    jsonSlot.innerHTML = "";
    ta.classList.remove("invalid");
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
    ta.focus();
  });
  dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    errSlot.innerHTML = "";
    const parsed = read();
    if (!parsed.ok) return; // shown inline, never sent
    const btn = form.querySelector("[data-testid=send-event-submit]");
    btn.disabled = true;
    try {
      const res = await api.sendEvent(parsed.value);
      dialog.close();
      const ids = res.ids ?? [];
      toast(
        `Sent ${ids.length} event${ids.length === 1 ? "" : "s"}${
          ids.length
            ? `: ${ids.map((id) => `<a href="#/events/${esc(encodeURIComponent(id))}">${esc(id)}</a>`).join(", ")}`
            : ""
        }`,
      );
    } catch (err) {
      errSlot.innerHTML = apiErrorHtml(err);
    } finally {
      btn.disabled = false;
    }
  });
}

function setupHeader() {
  const dot = document.getElementById("live-status");
  const paint = (on) => {
    dot.classList.toggle("on", on);
    dot.title = on ? "Live updates connected" : "Live updates disconnected — reconnecting…";
    dot.querySelector(".label").textContent = on ? "Live" : "Offline";
  };
  paint(isConnected());
  subscribe("status", paint);
}

installGlobalHandlers();
setupHeader();
setupSendEvent();
startStream();
setInterval(() => refreshTimes(), 5000);
startRouter(show);
