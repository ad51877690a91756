// Replay: a window of the archive and the consumers to send it to; the dry run's numbers
// first, then the run itself with its progress until it ends.

import { el, get, notify, post } from "./api.js";

let plannedBody = null;
let polling = null;

function body() {
  const from = document.getElementById("replay-from").value;
  const to = document.getElementById("replay-to").value;
  const consumers = [...document.querySelectorAll("#replay-consumers input:checked")].map((i) => i.value);
  if (!from || !to) throw new Error("give the window's start and end");
  if (!consumers.length) throw new Error("pick at least one consumer");
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), consumers };
}

function local(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

async function fillConsumers() {
  const set = document.getElementById("replay-consumers");
  if (set.querySelector("input")) return;
  try {
    const lag = (await get("/admin/lag")).data;
    for (const c of lag.consumers) {
      const id = `replay-c-${c.consumer}`;
      set.append(el("span", { class: "choice" }, el("input", { type: "checkbox", id, value: c.consumer }), " ", el("label", { for: id }, c.consumer), " "));
    }
  } catch (err) {
    notify(err.status === 403 ? "Replays need an admin key." : `Replay: ${err.message}`);
  }
  const now = new Date();
  document.getElementById("replay-from").value = local(new Date(now.getTime() - 3_600_000));
  document.getElementById("replay-to").value = local(new Date(now.getTime() + 60_000));
}

async function plan(e) {
  e.preventDefault();
  let request;
  try {
    request = body();
  } catch (err) {
    notify(err.message);
    return;
  }
  try {
    const p = (await post("/admin/replays/plan", request)).data;
    const table = document.getElementById("replay-plan-table");
    table.querySelector("tbody").replaceChildren(
      ...p.consumers.map((c) =>
        el(
          "tr",
          { "data-consumer": c.consumer },
          el("th", { scope: "row" }, c.consumer),
          el("td", { class: "num" }, c.events),
          el("td", { class: "num" }, c.wouldApply),
          el("td", { class: "num" }, c.unchanged),
        ),
      ),
    );
    table.hidden = false;
    plannedBody = request;
    document.getElementById("replay-run").disabled = false;
    notify("Dry run: nothing was sent.", true);
  } catch (err) {
    notify(`Dry run refused: ${err.message}`);
  }
}

async function run() {
  if (!plannedBody) return;
  try {
    const status = (await post("/admin/replays", plannedBody)).data;
    document.getElementById("replay-run").disabled = true;
    plannedBody = null;
    show(status);
    clearInterval(polling);
    polling = setInterval(async () => {
      try {
        const s = (await get(`/admin/replays/${encodeURIComponent(status.name)}`)).data;
        show(s);
        if (s.state !== "running") clearInterval(polling);
      } catch (err) {
        clearInterval(polling);
        notify(`Replay progress: ${err.message}`);
      }
    }, 1000);
  } catch (err) {
    notify(`The replay was refused: ${err.message}`);
  }
}

function show(status) {
  document.getElementById("replay-progress").replaceChildren(
    el("h3", {}, `Replay ${status.name}: ${status.state}`),
    el(
      "ul",
      {},
      status.consumers.map((c) =>
        el(
          "li",
          { "data-consumer": c.consumer },
          el("label", { for: `progress-${c.consumer}` }, c.consumer),
          " ",
          el("progress", { id: `progress-${c.consumer}`, max: 1000, value: c.progressPermille }),
          ` ${(c.progressPermille / 10).toFixed(1)} % — applied ${c.applied}, unchanged ${c.unchanged}, failed ${c.failed}${c.done ? " (done)" : ""}`,
        ),
      ),
    ),
  );
}

document.getElementById("replay-form").addEventListener("submit", plan);
document.getElementById("replay-run").addEventListener("click", run);
// A changed window or set of consumers needs a new dry run before it can be run.
document.getElementById("replay-form").addEventListener("change", () => {
  plannedBody = null;
  document.getElementById("replay-run").disabled = true;
});

export async function enter() {
  await fillConsumers();
}
