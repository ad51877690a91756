// The console's shell: sign-in, and one view at a time chosen by the URL's fragment.

import { get, key, notify, signIn, signOut } from "./api.js";
import * as flow from "./flow.js";
import * as deadLetters from "./dead-letters.js";
import * as replay from "./replay.js";
import * as tasks from "./tasks.js";
import * as metrics from "./metrics.js";

const views = { flow, "dead-letters": deadLetters, replay, tasks, metrics };
let current = null;

function showSignedIn(signedIn) {
  document.getElementById("sign-in").hidden = signedIn;
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("sign-out").hidden = !signedIn;
}

function route() {
  if (!key()) return;
  const name = location.hash.slice(1) in views ? location.hash.slice(1) : "flow";
  for (const [id, view] of Object.entries(views)) {
    const section = document.getElementById(id);
    const active = id === name;
    section.hidden = !active;
    document.querySelector(`#nav a[data-view="${id}"]`).toggleAttribute("aria-current", active);
    if (active) document.querySelector(`#nav a[data-view="${id}"]`).setAttribute("aria-current", "page");
    if (!active && current === view) view.leave?.();
  }
  current = views[name];
  notify("");
  current.enter();
}

async function start() {
  showSignedIn(true);
  flow.startStream();
  route();
}

document.getElementById("sign-in-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = document.getElementById("key");
  signIn(input.value.trim());
  try {
    await get("/tasks?limit=1");
    input.value = "";
    await start();
  } catch (err) {
    signOut();
    notify(err.status === 401 ? "That key was not accepted." : `Sign-in failed: ${err.message}`);
    input.focus();
  }
});

document.getElementById("sign-out").addEventListener("click", () => {
  signOut();
  location.hash = "";
  location.reload();
});

window.addEventListener("hashchange", route);

if (key()) start();
else document.getElementById("key").focus();
