// Flow: each consumer's queue (depth, oldest age, retries, dead letters, events/s) polled from
// /admin/lag, the tenant's events live from the stream, and a task's trace on click.

import { age, el, get, notify } from "./api.js";
import { follow } from "./stream.js";

const MAX_EVENTS = 50;
const arrivals = [];
let timer = null;
let stream = null;

/** Starts the live events once signed in; they keep arriving whichever view is shown. */
export function startStream() {
  if (stream) return;
  const state = document.getElementById("stream-state");
  stream = follow({
    onEvent: (event, position) => {
      arrivals.push(Date.now());
      addEvent(event, position);
    },
    onState: (s) => {
      state.textContent = `stream: ${s}`;
    },
  });
  setInterval(showRate, 1000);
}

function showRate() {
  const now = Date.now();
  while (arrivals.length && arrivals[0] < now - 10_000) arrivals.shift();
  document.getElementById("rate").textContent = `${(arrivals.length / 10).toFixed(1)} events/s`;
}

function addEvent(event, position) {
  const list = document.getElementById("events");
  const isTask = event.aggregateType === "task" || event.data?.comment?.taskId;
  const taskId = event.aggregateType === "task" ? event.aggregateId : event.data?.comment?.taskId;
  const item = el(
    "li",
    { "data-position": position, "data-type": event.eventType, "data-aggregate": event.aggregateId },
    el("span", { class: "type" }, event.eventType),
    isTask
      ? el("button", { type: "button", class: "link", onclick: () => trace(taskId) }, `task ${taskId.slice(0, 8)}…`)
      : el("span", {}, event.unreadable ? "unreadable body" : `${event.aggregateType} ${event.aggregateId?.slice(0, 8) ?? ""}`),
    el("span", {}, event.aggregateVersion ? `v${event.aggregateVersion}` : ""),
    el("span", { class: "corr", title: "correlation id" }, event.correlationId),
    el("time", { datetime: event.occurredAt }, new Date(event.occurredAt).toLocaleTimeString()),
  );
  list.prepend(item);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

async function refresh() {
  try {
    const lag = (await get("/admin/lag")).data;
    document.getElementById("router-summary").textContent =
      `Router: ${lag.routerPending} pending (oldest ${age(lag.routerOldestAgeMs)}), ${lag.routerParked} parked`;
    const body = document.querySelector("#consumers tbody");
    body.replaceChildren(
      ...lag.consumers.map((c) =>
        el(
          "tr",
          { class: c.deadLetters > 0 ? "stuck" : "", "data-consumer": c.consumer },
          el("th", { scope: "row" }, c.consumer),
          el("td", { class: "num" }, c.depth),
          el("td", { class: "num" }, age(c.oldestAgeMs)),
          el("td", { class: "num" }, c.retrying),
          el("td", { class: "num" }, c.deadLetters),
          el("td", { class: "num" }, c.replaysRunning),
          el("td", { class: "num", "data-rate": c.eventsPerSecond ?? "" }, c.eventsPerSecond == null ? "–" : c.eventsPerSecond.toFixed(1)),
        ),
      ),
    );
    // For the page-load benchmark: when the first data the page asked for is on screen.
    if (!performance.getEntriesByName("first-data").length) performance.mark("first-data");
  } catch (err) {
    notify(err.status === 403 ? "The consumers' lag needs an admin key; live events still show." : `Lag: ${err.message}`);
    stop();
  }
}

function stop() {
  clearInterval(timer);
  timer = null;
}

export function enter() {
  refresh();
  timer = setInterval(refresh, 2000);
}

export function leave() {
  stop();
}

/** Shows a task's trace: its change records, their events and each consumer's delivery. */
export async function trace(taskId) {
  const box = document.getElementById("trace");
  const body = document.getElementById("trace-body");
  box.hidden = false;
  document.getElementById("trace-title").textContent = `Trace of task ${taskId}`;
  try {
    const t = (await get(`/admin/tasks/${encodeURIComponent(taskId)}/trace`)).data;
    body.replaceChildren(
      el(
        "ol",
        {},
        t.changes.map((c) =>
          el(
            "li",
            {},
            el("strong", {}, `version ${c.version}`),
            ` ${c.state} at ${c.at} by ${c.actor} `,
            el("span", { class: "mono" }, c.correlationId),
            c.reason ? el("p", {}, `reason: ${c.reason}`) : null,
            el(
              "ul",
              {},
              c.events.map((e) =>
                el(
                  "li",
                  {},
                  `${e.eventType} (${e.archived ? "archived" : "not archived"}): `,
                  e.deliveries.map((d) => `${d.consumer} ${d.state}${d.reason ? ` (${d.reason})` : ""}`).join(", "),
                ),
              ),
            ),
          ),
        ),
      ),
    );
    box.scrollIntoView({ block: "nearest" });
  } catch (err) {
    body.replaceChildren(el("p", {}, `The trace could not be read: ${err.message}`));
  }
}
