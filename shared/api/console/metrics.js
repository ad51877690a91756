// Metrics: throughput and median cycle time per day over the last two weeks, and the
// velocity of the last sprints, drawn as plain SVG bars (built as DOM nodes: the CSP allows
// no inline markup or styles).

import { el, get, notify, query } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

/** The sprints the velocity chart shows, the latest last. */
const SPRINTS_SHOWN = 8;

/** A bar chart of `rows` (label, value, and a `short` label under the bar; `shown`, the
 *  value as written, when it is not the value itself); an accessible table-like title
 *  describes it. Bars are scaled to the largest value, so a chart of small values (a few
 *  minutes, in a chart of hours) still shows them. */
function bars(target, rows, unit) {
  const width = 560;
  const height = 160;
  const max = Math.max(0, ...rows.map((r) => r.value)) || 1;
  const step = width / Math.max(1, rows.length);
  // A bar no wider than this, centred in its step, so a chart of one or two rows still reads
  // as bars rather than a filled box.
  const bar = Math.max(1, Math.min(step - 4, 48));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height + 20}`, role: "img" });
  chart.append(svg("title", {}, rows.map((r) => `${r.label}: ${r.shown ?? r.value} ${unit}`).join("; ") || "no data"));
  rows.forEach((r, i) => {
    const h = (r.value / max) * height;
    chart.append(
      svg("rect", { class: "bar", x: i * step + (step - bar) / 2, y: height - h, width: bar, height: h }),
      svg("text", { x: i * step + step / 2, y: height + 14, "text-anchor": "middle" }, r.short ?? r.label.slice(5, 10)),
    );
    if (r.value > 0) chart.append(svg("text", { x: i * step + step / 2, y: Math.max(10, height - h - 3), "text-anchor": "middle" }, r.shown ?? String(r.value)));
  });
  target.replaceChildren(chart);
}

/** The unit a set of durations (seconds) reads best in: the largest of hours, minutes and
 *  seconds that the longest of them reaches, so a day of quick tasks is not a row of zeros. */
function durationUnit(seconds) {
  const longest = Math.max(0, ...seconds);
  if (longest >= 3600) return { name: "hours", size: 3600 };
  if (longest >= 60) return { name: "minutes", size: 60 };
  return { name: "seconds", size: 1 };
}

/** The sprint's name for a velocity row, or its id's start when it cannot be read. */
async function sprintName(id) {
  try {
    return (await get(`/sprints/${encodeURIComponent(id)}`)).data.name;
  } catch {
    return id.slice(0, 8);
  }
}

async function velocity() {
  const target = document.getElementById("chart-velocity");
  const rows = (await get("/metrics/velocity")).data.slice(-SPRINTS_SHOWN);
  if (!rows.length) {
    target.replaceChildren(el("p", {}, "No sprint has a completed task yet."));
    return;
  }
  const names = await Promise.all(rows.map((r) => sprintName(r.sprint)));
  bars(
    target,
    rows.map((r, i) => ({
      label: `${names[i]} (${r.points ?? 0} points)`,
      short: names[i].length > 12 ? `${names[i].slice(0, 11)}…` : names[i],
      value: r.completed ?? 0,
    })),
    "completed",
  );
}

export async function enter() {
  const from = new Date(Date.now() - 14 * 86_400_000);
  from.setUTCHours(0, 0, 0, 0);
  const params = query({ from: from.toISOString(), interval: "day" });
  try {
    const [throughput, cycle] = await Promise.all([get("/metrics/throughput" + params), get("/metrics/cycle-time" + params)]);
    bars(document.getElementById("chart-throughput"), throughput.data.map((r) => ({ label: r.start, value: r.completed ?? 0 })), "completed");
    const medians = cycle.data.map((r) => r.p50Seconds ?? 0);
    const unit = durationUnit(medians);
    document.getElementById("caption-cycle").textContent = `Cycle time, median ${unit.name} per day`;
    bars(
      document.getElementById("chart-cycle"),
      cycle.data.map((r, i) => ({ label: r.start, value: medians[i], shown: String(Math.round((medians[i] / unit.size) * 100) / 100) })),
      unit.name,
    );
    await velocity();
  } catch (err) {
    notify(`Metrics: ${err.message}`);
    document.getElementById("chart-throughput").replaceChildren(el("p", {}, "No metrics to show."));
  }
}
