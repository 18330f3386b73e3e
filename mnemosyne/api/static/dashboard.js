// Mnemosyne web dashboard: one instance's health, the registry and its live events.
// No dependencies; every value from the server is inserted as text, never as HTML.
// The page is opened through the login link (`mnemosyne dashboard-url`), whose session
// cookie (HttpOnly, SameSite=Strict) every fetch and the EventSource send by themselves.
"use strict";

const MAX_EVENTS = 500;
const HEALTH_EVERY_MS = 5000;
const seenTypes = new Set();
let eventSource = null;

function byId(id) { return document.getElementById(id); }

async function getJson(path) {
  // Same-origin requests carry the session cookie set by /login: no token in any URL.
  const response = await fetch(path, {cache: "no-store", credentials: "same-origin"});
  if (response.status === 401) {
    // The session ended (the instance restarted, or the session was pushed out).
    setText("connection", "logged out: run mnemosyne dashboard-url", "badge badge-down");
    throw new Error("not logged in");
  }
  const body = await response.json();
  return {status: response.status, body};
}

function formatUptime(seconds) {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return (h ? h + "h " : "") + (h || m ? m + "m " : "") + (s % 60) + "s";
}

function setText(id, text, className) {
  const element = byId(id);
  element.textContent = text;
  if (className !== undefined) element.className = className;
}

async function refreshHealth() {
  try {
    const {body} = await getJson("/health");
    setText("instance-id", body.instance_id);
    setText("health", body.status + (body.problems ? ": " + body.problems.join("; ") : ""),
            "status-" + body.status);
    setText("db", body.db, "status-" + body.db);
    setText("uptime", formatUptime(body.uptime_s));
    setText("port", String(body.port));
    setText("subscribers", String(body.subscribers));
    setText("version", body.version);
  } catch (error) {
    setText("health", "unreachable", "status-error");
  }
}

async function refreshInstances() {
  try {
    const {body} = await getJson("/instances");
    const rows = body.map((view) => {
      const row = document.createElement("tr");
      for (const value of [view.instance_id, view.pid, view.state, view.api_url, view.branch,
                           view.systemd_unit]) {
        const cell = document.createElement("td");
        cell.textContent = value === null || value === undefined ? "-" : String(value);
        row.appendChild(cell);
      }
      return row;
    });
    byId("instances").tBodies[0].replaceChildren(...rows);
  } catch (error) {
    /* the health panel already says the instance is unreachable */
  }
}

function describe(envelope) {
  const data = envelope.data || {};
  switch (envelope.type) {
    case "memory_stored": case "memory_updated": case "memory_deleted":
      return `${data.namespace} ${data.memory_id} ${data.preview || ""}`;
    case "memory_recalled": return `"${data.query}" → ${data.results} result(s)`;
    case "message_received": return `${data.message_type} from ${data.from_agent}`;
    case "peer_joined": case "peer_left": return String(data.peer_id);
    case "task_started": case "task_finished": case "task_failed":
      return `${data.plan}/${data.task} ${data.state || "running"} on ${data.worker}`;
    case "lagged": return `missed ${data.missed === null ? "an unknown number of" : data.missed} event(s) (${data.reason})`;
    default: return JSON.stringify(data);
  }
}

function visible(type) {
  const wanted = byId("type-filter").value;
  if (wanted) return type === wanted;
  return type !== "heartbeat" || byId("show-heartbeats").checked;
}

function applyFilter() {
  for (const item of byId("events").children) {
    item.hidden = !visible(item.dataset.type);
  }
}

function noteType(type) {
  if (seenTypes.has(type)) return;
  seenTypes.add(type);
  const option = document.createElement("option");
  option.value = option.textContent = type;
  byId("type-filter").appendChild(option);
}

function addEvent(envelope) {
  noteType(envelope.type);
  const item = document.createElement("li");
  item.dataset.type = envelope.type;
  item.className = envelope.type;
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = (envelope.timestamp || "").replace("T", " ").slice(0, 19);
  const type = document.createElement("span");
  type.className = "type";
  type.textContent = envelope.type;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = describe(envelope);
  item.append(time, type, text);
  item.hidden = !visible(envelope.type);
  const list = byId("events");
  list.prepend(item);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  if (["peer_joined", "peer_left", "instance_started"].includes(envelope.type)) {
    refreshInstances();
  }
  if (envelope.type === "heartbeat") {
    setText("subscribers", String(envelope.data.subscribers));
    setText("uptime", formatUptime(envelope.data.uptime_s));
  }
}

const EVENT_TYPES = ["instance_started", "instance_stopping", "memory_stored", "memory_updated",
  "memory_deleted", "memory_recalled", "message_received", "peer_joined", "peer_left",
  "heartbeat", "lagged", "task_started", "task_finished", "task_failed"];

function connect() {
  // EventSource reconnects by itself and sends Last-Event-ID, so the server resumes.
  eventSource = new EventSource("/events");
  eventSource.onopen = () => {
    setText("connection", "live", "badge badge-up");
    refreshHealth();
    refreshInstances();
  };
  eventSource.onerror = () => setText("connection", "reconnecting", "badge badge-down");
  for (const type of EVENT_TYPES) {
    eventSource.addEventListener(type, (message) => addEvent(JSON.parse(message.data)));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  byId("type-filter").addEventListener("change", applyFilter);
  byId("show-heartbeats").addEventListener("change", applyFilter);
  refreshHealth();
  refreshInstances();
  setInterval(refreshHealth, HEALTH_EVERY_MS);
  connect();
});
