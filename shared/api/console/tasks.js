// Tasks: a board by status for a project or sprint, where a card moves by drag and drop or
// by its "Move to" list (keyboard); search with facets; a task's history and comments.
// Every move names the version the card showed (If-Match), so a move over someone else's
// change is refused with 409 and said so plainly.

import { call, el, get, notify, post, query } from "./api.js";

const STATUSES = ["todo", "in_progress", "in_review", "blocked", "done", "cancelled"];
const LABELS = { todo: "To do", in_progress: "In progress", in_review: "In review", blocked: "Blocked", done: "Done", cancelled: "Cancelled" };
const MAX_CARDS = 500;
let tasks = new Map();
let openTask = null;

async function fillProjects() {
  const select = document.getElementById("board-project");
  if (select.options.length > 1) return;
  try {
    for (const p of (await get("/projects")).data) select.append(el("option", { value: p.id }, p.name ?? p.key ?? p.id));
  } catch (err) {
    notify(`Projects: ${err.message}`);
  }
}

async function fillSprints() {
  const project = document.getElementById("board-project").value;
  const select = document.getElementById("board-sprint");
  select.replaceChildren(el("option", { value: "" }, "whole project"));
  if (!project) return;
  try {
    for (const s of (await get(`/projects/${project}/sprints`)).data) select.append(el("option", { value: s.id }, `${s.name} (${s.status})`));
  } catch (err) {
    notify(`Sprints: ${err.message}`);
  }
}

/** Every task of the board's scope, following the list's cursor. */
async function loadTasks() {
  const params = { projectId: document.getElementById("board-project").value, sprintId: document.getElementById("board-sprint").value, limit: 100 };
  const found = [];
  let cursor = null;
  do {
    const page = await get("/tasks" + query({ ...params, cursor }));
    found.push(...page.data);
    cursor = page.nextCursor;
  } while (cursor && found.length < MAX_CARDS);
  tasks = new Map(found.map((t) => [t.id, t]));
}

function card(task) {
  const selectId = `move-${task.id}`;
  const node = el(
    "article",
    { class: "card", draggable: "true", tabindex: "0", "data-task": task.id, "data-version": task.version, "aria-label": task.title },
    el("button", { type: "button", class: "link title", onclick: () => openDetail(task.id) }, task.title),
    el("span", { class: "meta" }, `${task.priority}${task.assignee ? " · " + task.assignee : ""} · v${task.version}`),
    el("label", { for: selectId, class: "sr-only" }, `Move ${task.title} to`),
    el(
      "select",
      { id: selectId, class: "move", onchange: (e) => move(task.id, e.target.value) },
      STATUSES.map((s) => el("option", { value: s, selected: s === task.status }, `Move to: ${LABELS[s]}`)),
    ),
  );
  node.addEventListener("dragstart", (e) => {
    e.dataTransfer.setData("text/plain", task.id);
    e.dataTransfer.effectAllowed = "move";
  });
  return node;
}

function render() {
  const board = document.getElementById("board");
  board.replaceChildren(
    ...STATUSES.map((status) => {
      const column = el(
        "section",
        { class: "column", "data-status": status, "aria-label": LABELS[status] },
        el("h3", {}, `${LABELS[status]} (${[...tasks.values()].filter((t) => t.status === status).length})`),
        [...tasks.values()].filter((t) => t.status === status).map(card),
      );
      column.addEventListener("dragover", (e) => {
        e.preventDefault();
        column.classList.add("over");
      });
      column.addEventListener("dragleave", () => column.classList.remove("over"));
      column.addEventListener("drop", (e) => {
        e.preventDefault();
        column.classList.remove("over");
        const id = e.dataTransfer.getData("text/plain");
        if (id) move(id, status);
      });
      return column;
    }),
  );
}

async function showBoard(e) {
  e?.preventDefault();
  try {
    await loadTasks();
    render();
  } catch (err) {
    notify(`The board could not be read: ${err.message}`);
  }
}

/** Changes a task's status at the version the board shows. */
async function move(id, status) {
  const task = tasks.get(id);
  if (!task || task.status === status) return;
  try {
    const updated = (await call("PUT", `/tasks/${id}`, { body: { status }, headers: { "if-match": `"${task.version}"` } })).data;
    tasks.set(id, updated);
    notify(`Moved “${updated.title}” to ${LABELS[status]} (version ${updated.version}).`, true);
    render();
    if (openTask === id) openDetail(id);
  } catch (err) {
    if (err.status === 409) {
      const now = err.details?.currentVersion;
      notify(`Not moved: someone else changed “${task.title}” first${now ? ` (it is now at version ${now}, the board showed ${task.version})` : ""}. The board has been reloaded; look at it again and retry.`);
      await showBoard();
    } else {
      notify(`Not moved: ${err.message}`);
      render();
    }
  }
}

async function openDetail(id) {
  openTask = id;
  const section = document.getElementById("task-detail");
  section.hidden = false;
  try {
    const [task, history, comments] = await Promise.all([
      get(`/tasks/${id}`),
      get(`/tasks/${id}/history`),
      get(`/tasks/${id}/comments?limit=100`),
    ]);
    const t = task.data;
    document.getElementById("task-detail-title").textContent = t.title;
    const fields = [["Status", LABELS[t.status] ?? t.status], ["Priority", t.priority], ["Assignee", t.assignee ?? "—"], ["Version", t.version], ["Id", t.id]];
    document.getElementById("task-fields").replaceChildren(...fields.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    document.getElementById("task-history").replaceChildren(
      ...history.data.map((h) =>
        el("li", { "data-version": h.version }, `v${h.version} ${h.events.map((e) => e.type).join(" + ")} by ${h.actor} at ${h.occurredAt}`),
      ),
    );
    document.getElementById("task-comments").replaceChildren(
      ...comments.data.map((c) => el("li", {}, el("strong", {}, c.author), `: ${c.body}`)),
    );
  } catch (err) {
    notify(`The task could not be read: ${err.message}`);
  }
}

async function search(e, extra = {}) {
  e?.preventDefault();
  const q = document.getElementById("search-q").value;
  try {
    const page = await get("/search" + query({ q, facets: true, limit: 50, ...extra }));
    document.getElementById("search-results").replaceChildren(
      ...page.data.map((t) => el("li", {}, el("button", { type: "button", class: "link", onclick: () => openDetail(t.id) }, t.title), ` — ${LABELS[t.status] ?? t.status}`)),
    );
    if (!page.data.length) document.getElementById("search-results").replaceChildren(el("li", {}, "Nothing found."));
    const facets = page.facets ?? {};
    document.getElementById("facets").replaceChildren(
      el(
        "div",
        { class: "facets" },
        Object.entries(facets).map(([field, counts]) =>
          el(
            "fieldset",
            {},
            el("legend", {}, field),
            Object.entries(counts).map(([value, n]) =>
              el("button", { type: "button", class: "link", onclick: () => search(null, { ...extra, [field]: value }) }, `${value} (${n})`, " "),
            ),
          ),
        ),
      ),
    );
  } catch (err) {
    notify(`Search: ${err.message}`);
  }
}

document.getElementById("board-pick").addEventListener("submit", showBoard);
document.getElementById("board-project").addEventListener("change", fillSprints);
document.getElementById("search-form").addEventListener("submit", (e) => search(e));
document.getElementById("comment-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = document.getElementById("comment-body");
  if (!openTask) return;
  try {
    await post(`/tasks/${openTask}/comments`, { body: text.value });
    text.value = "";
    await openDetail(openTask);
  } catch (err) {
    notify(`The comment was refused: ${err.message}`);
  }
});

export async function enter() {
  await fillProjects();
  await showBoard();
}
