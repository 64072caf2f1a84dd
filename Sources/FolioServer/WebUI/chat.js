// The chat page of `folio serve`: conversations in localStorage, replies streamed from /v1/chat/completions (SSE),
// stop = abort the fetch (the server aborts the request when the connection closes). Model text is only ever shown
// through FolioMarkdown.render (escaped) or textContent; the server's Content-Security-Policy blocks inline script.
"use strict";
const $ = (id) => document.getElementById(id);
const KEYS = { conversations: "folio.conversations", settings: "folio.settings", active: "folio.active" };
const FIELDS = ["system", "temperature", "top_p", "max_tokens", "seed", "api_key"];
const DEFAULT_MAX_TOKENS = 512;

let conversations = load(KEYS.conversations, []);
let settings = load(KEYS.settings, {});
let activeId = localStorage.getItem(KEYS.active);
let controller = null; // the AbortController of the reply being streamed

function load(key, fallback) {
  try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch { return fallback; }
}

function save() {
  localStorage.setItem(KEYS.conversations, JSON.stringify(conversations));
  if (activeId) localStorage.setItem(KEYS.active, activeId); else localStorage.removeItem(KEYS.active);
}

const active = () => conversations.find((c) => c.id === activeId);
const setStatus = (text) => { $("status").textContent = text; };

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api_key").value.trim();
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

/// "Error 401: Unauthorized: ..." from a failed response's OpenAI error object (or its status text).
async function errorText(res) {
  let message = res.statusText;
  try {
    const body = await res.json();
    message = body?.error?.message ?? JSON.stringify(body);
  } catch { /* not JSON: keep the status text */ }
  return `Error ${res.status}: ${message}`;
}

async function loadModels() {
  try {
    const res = await fetch("/v1/models", { headers: headers() });
    if (!res.ok) { setStatus(await errorText(res)); return; }
    setStatus("");
    const models = (await res.json()).data ?? [];
    const select = $("model");
    select.replaceChildren(...models.map((m) => Object.assign(document.createElement("option"), { value: m.id, textContent: m.id })));
    if (models.some((m) => m.id === settings.model)) select.value = settings.model;
  } catch (e) {
    setStatus("Cannot reach the server: " + e.message);
  }
}

// ---- rendering ----

function renderList() {
  $("conversations").replaceChildren(...conversations.map((c) => {
    const li = document.createElement("li");
    li.dataset.id = c.id;
    li.classList.toggle("active", c.id === activeId);
    const title = Object.assign(document.createElement("button"), { type: "button", className: "title", textContent: c.title || "New chat" });
    title.addEventListener("click", () => { activeId = c.id; save(); renderAll(); });
    const del = Object.assign(document.createElement("button"), { type: "button", className: "delete", textContent: "×", title: "Delete" });
    del.setAttribute("aria-label", "Delete conversation");
    del.addEventListener("click", () => remove(c.id));
    li.append(title, del);
    return li;
  }));
}

function statsText(m) {
  const parts = [];
  if (m.stats) {
    const s = m.stats;
    parts.push(`${s.prompt_tokens} prompt tokens`, `${s.completion_tokens} tokens`);
    if (s.tokens_per_second != null) parts.push(`${s.tokens_per_second.toFixed(1)} tok/s`);
    if (s.first_token_s != null) parts.push(`first token ${s.first_token_s.toFixed(2)} s`);
  }
  if (m.finish === "length") parts.push("max tokens reached");
  if (m.stopped) parts.push("stopped");
  return parts.join(" · ");
}

/// Writes message `m` into its element (the assistant's text as escaped Markdown, everything else as plain text).
function fill(el, m) {
  el.className = `message ${m.role}` + (m.error ? " error" : "");
  el.dataset.state = m.state ?? "done";
  const content = el.querySelector(".content");
  if (m.role === "assistant") content.innerHTML = FolioMarkdown.render(m.content);
  else content.textContent = m.content;
  el.querySelector(".error-text").textContent = m.error ?? "";
  el.querySelector(".stats").textContent = statsText(m);
}

function messageElement(m) {
  const el = document.createElement("div");
  for (const cls of ["role", "content", "error-text", "stats"]) el.append(Object.assign(document.createElement("div"), { className: cls }));
  el.querySelector(".role").textContent = m.role;
  fill(el, m);
  return el;
}

function renderMessages() {
  const conv = active();
  $("messages").replaceChildren(...(conv ? conv.messages.map(messageElement) : []));
  scrollDown();
}

const scrollDown = () => { const box = $("messages"); box.scrollTop = box.scrollHeight; };
function renderAll() { renderList(); renderMessages(); }

// ---- conversations ----

function newConversation() {
  const conv = { id: crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random(), title: "", created: Date.now(), messages: [] };
  conversations.unshift(conv);
  activeId = conv.id;
  save();
  renderAll();
  return conv;
}

function remove(id) {
  conversations = conversations.filter((c) => c.id !== id);
  if (activeId === id) activeId = conversations[0]?.id ?? null;
  save();
  renderAll();
}

/// The messages sent for the next reply: the system prompt, then every turn except failed ones (a reply that is
/// only an error, and the user message it answered).
function history(conv) {
  const out = [];
  const system = $("system").value.trim();
  if (system) out.push({ role: "system", content: system });
  conv.messages.forEach((m, i) => {
    const failed = (x) => x && x.role === "assistant" && x.error && !x.content;
    if (failed(m) || (m.role === "user" && failed(conv.messages[i + 1]))) return;
    out.push({ role: m.role, content: m.content });
  });
  return out;
}

// ---- streaming ----

/// The JSON events of a server-sent-events body until `data: [DONE]`.
async function* events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (!data) continue;
      if (data === "[DONE]") return;
      yield JSON.parse(data);
    }
  }
}

function number(id) {
  const v = $(id).value.trim();
  return v === "" ? undefined : Number(v);
}

function setBusy(busy) {
  $("send").hidden = busy;
  $("stop").hidden = !busy;
}

async function send(text) {
  const conv = active() ?? newConversation();
  conv.messages.push({ role: "user", content: text });
  if (!conv.title) conv.title = text.slice(0, 60);
  const messages = history(conv);
  const reply = { role: "assistant", content: "", state: "streaming" };
  conv.messages.push(reply);
  save();
  renderAll();
  const el = $("messages").lastElementChild;
  const request = {
    model: $("model").value, messages, stream: true, stream_options: { include_usage: true },
    max_tokens: number("max_tokens") ?? DEFAULT_MAX_TOKENS, temperature: number("temperature"), top_p: number("top_p"), seed: number("seed"),
  };
  controller = new AbortController();
  setBusy(true);
  const t0 = performance.now();
  let tFirst = null, usage = null;
  try {
    const res = await fetch("/v1/chat/completions", { method: "POST", headers: headers(), body: JSON.stringify(request), signal: controller.signal });
    if (!res.ok) {
      reply.error = await errorText(res);
    } else {
      for await (const event of events(res.body)) {
        if (event.error) { reply.error = `Error ${event.error.code ?? ""}: ${event.error.message}`; break; }
        if (event.usage) usage = event.usage;
        const choice = event.choices?.[0];
        if (!choice) continue;
        if (choice.delta?.content) {
          tFirst ??= performance.now();
          reply.content += choice.delta.content;
          fill(el, reply);
          scrollDown();
        }
        if (choice.finish_reason) reply.finish = choice.finish_reason;
      }
    }
  } catch (e) {
    if (e.name === "AbortError") reply.stopped = true;
    else reply.error = "Cannot reach the server: " + e.message;
  }
  const tEnd = performance.now();
  if (usage) {
    const n = usage.completion_tokens;
    reply.stats = {
      prompt_tokens: usage.prompt_tokens, completion_tokens: n,
      tokens_per_second: n > 1 && tFirst != null && tEnd > tFirst ? (n - 1) / ((tEnd - tFirst) / 1000) : null,
      first_token_s: tFirst != null ? (tFirst - t0) / 1000 : null,
    };
  }
  reply.state = reply.error ? "error" : reply.stopped ? "stopped" : "done";
  controller = null;
  setBusy(false);
  save();
  fill(el, reply);
}

// ---- wiring ----

function init() {
  for (const id of FIELDS) {
    if (settings[id] != null) $(id).value = settings[id];
    $(id).addEventListener("change", () => {
      settings[id] = $(id).value;
      localStorage.setItem(KEYS.settings, JSON.stringify(settings));
      if (id === "api_key") loadModels();
    });
  }
  $("model").addEventListener("change", () => {
    settings.model = $("model").value;
    localStorage.setItem(KEYS.settings, JSON.stringify(settings));
  });
  $("settings").addEventListener("submit", (e) => e.preventDefault());
  $("toggle-settings").addEventListener("click", () => {
    const panel = $("settings");
    panel.hidden = !panel.hidden;
    $("toggle-settings").setAttribute("aria-expanded", String(!panel.hidden));
  });
  $("new-chat").addEventListener("click", () => { if (!controller) newConversation(); });
  $("stop").addEventListener("click", () => controller?.abort());
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("input").value.trim();
    if (!text || controller) return;
    $("input").value = "";
    send(text);
  });
  $("input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("composer").requestSubmit(); }
  });
  // A reply that was streaming when the page closed ends as stopped.
  for (const c of conversations) for (const m of c.messages) if (m.state === "streaming") { m.state = "stopped"; m.stopped = true; }
  if (!active()) activeId = conversations[0]?.id ?? null;
  renderAll();
  fetch("/version").then((r) => r.json()).then((v) => { $("version").textContent = v.version; }).catch(() => {});
  loadModels();
}

init();
