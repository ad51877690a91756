// Dead letters: per consumer, with their reasons; redrive one, or all after the count to be
// moved is shown and confirmed (and only that many are moved).

import { el, get, notify, post, query } from "./api.js";

let pending = null;

function consumer() {
  return document.getElementById("dl-consumer").value;
}

async function fillConsumers() {
  const select = document.getElementById("dl-consumer");
  if (select.options.length > 1) return;
  try {
    const lag = (await get("/admin/lag")).data;
    for (const c of lag.consumers) select.append(el("option", { value: c.consumer }, c.consumer));
  } catch {
    // Listed below with the letters' own error.
  }
}

async function load() {
  const body = document.querySelector("#dl-table tbody");
  try {
    const letters = (await get("/admin/dead-letters" + query({ consumer: consumer(), limit: 1000 }))).data;
    body.replaceChildren(
      ...letters.map((d) =>
        el(
          "tr",
          { "data-letter": d.id },
          el("td", { class: "num" }, d.id),
          el("td", {}, d.consumer),
          el("td", {}, d.eventType),
          el("td", { class: "mono" }, d.aggregateId),
          el("td", { class: "num" }, d.receiveCount),
          el("td", {}, d.reason),
          el("td", {}, el("time", { datetime: d.failedAt }, new Date(d.failedAt).toLocaleString())),
          el("td", {}, el("button", { type: "button", onclick: () => redrive({ id: d.id }, `dead letter ${d.id}`) }, "Redrive")),
        ),
      ),
    );
    document.getElementById("dl-empty").hidden = letters.length > 0;
    return letters.length;
  } catch (err) {
    notify(err.status === 403 ? "Dead letters need an admin key." : `Dead letters: ${err.message}`);
    return 0;
  }
}

async function redrive(body, what) {
  try {
    const moved = (await post("/admin/dead-letters/redrive", body)).data.count;
    notify(`Redrove ${moved} (${what}).`, true);
  } catch (err) {
    notify(`Redrive failed: ${err.message}`);
  }
  await load();
}

async function askAll() {
  const count = await load();
  const box = document.getElementById("dl-confirm");
  if (count === 0) {
    notify("There are no dead letters to redrive.");
    return;
  }
  const scope = consumer() ? `of ${consumer()}` : "of every consumer";
  pending = { max: count, ...(consumer() ? { consumer: consumer() } : {}) };
  document.getElementById("dl-confirm-text").textContent =
    `Redrive ${count} dead letter${count === 1 ? "" : "s"} ${scope}? They go back to their consumers at once.`;
  box.hidden = false;
  document.getElementById("dl-confirm-yes").focus();
}

function closeConfirm() {
  pending = null;
  document.getElementById("dl-confirm").hidden = true;
}

document.getElementById("dl-filter").addEventListener("submit", (e) => {
  e.preventDefault();
  load();
});
document.getElementById("dl-redrive-all").addEventListener("click", askAll);
document.getElementById("dl-confirm-no").addEventListener("click", closeConfirm);
document.getElementById("dl-confirm-yes").addEventListener("click", async () => {
  const body = pending;
  closeConfirm();
  if (body) await redrive(body, `all ${body.max} confirmed`);
});

export async function enter() {
  await fillConsumers();
  await load();
}
