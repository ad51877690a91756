// The live event stream, read with fetch() so the key travels in a header (EventSource
// cannot send one), parsed as Server-Sent Events here, and resumed with Last-Event-ID
// after a drop so nothing is missed or seen twice.

import { key } from "./api.js";

/**
 * Follows /events/stream until stop() is called. onEvent gets each parsed envelope with its
 * archive position; onState gets "live", "reconnecting" or an error message.
 */
export function follow({ onEvent, onState, params = "" }) {
  let lastId = null;
  let stopped = false;
  let controller = null;
  let delay = 500;

  async function connect() {
    while (!stopped) {
      controller = new AbortController();
      const headers = { "x-api-key": key() ?? "", accept: "text/event-stream" };
      if (lastId !== null) headers["last-event-id"] = String(lastId);
      try {
        const response = await fetch("/events/stream" + params, { headers, signal: controller.signal });
        if (!response.ok) {
          const body = await response.json().catch(() => ({}));
          onState(body?.error?.message ?? `the stream was refused (${response.status})`);
          if (response.status === 401 || response.status === 403) return;
        } else {
          onState("live");
          delay = 500;
          await read(response.body.getReader());
        }
      } catch (e) {
        if (stopped) return;
        onState("reconnecting");
      }
      if (stopped) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  }

  async function read(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        dispatch(block);
      }
    }
  }

  function dispatch(block) {
    let id = null;
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(":")) continue; // a heartbeat
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    if (id !== null && /^\d+$/.test(id)) lastId = Number(id);
    try {
      onEvent(JSON.parse(data.join("\n")), lastId);
    } catch {
      // Not JSON: nothing the views can show.
    }
  }

  connect();
  return {
    stop() {
      stopped = true;
      controller?.abort();
    },
  };
}
