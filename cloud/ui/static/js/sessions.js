// Session page: start a recording session (the server validates it as `gaitlink session`
// does and its reason is shown), stop open ones, and see each open one's cycles arrive.
import * as api from "./api.js";
import { clock, el } from "./format.js";

export function show(main, live) {
  const error = el("p", { class: "error", role: "alert" });
  const list = el("tbody");
  const deviceSelect = el("select", { name: "device", required: "" });
  const form = el("form", { id: "start-session", class: "inline" },
    el("label", {}, "subject", el("input", { name: "subject", placeholder: "LAB1_AB01", required: "" })),
    el("label", {}, "task", el("input", { name: "task", value: "level_walking", required: "" })),
    el("label", {}, "device", deviceSelect),
    el("label", {}, "placement", el("select", { name: "placement" },
      ...["foot", "shank", "lower_back"].map((p) => el("option", { value: p, text: p })))),
    el("label", {}, "side", el("select", { name: "side" },
      ...["left", "right", ""].map((s) => el("option", { value: s, text: s || "(none)" })))),
    el("button", { type: "submit", text: "Start" }));
  main.append(el("h1", { text: "Recording sessions" }), form, error,
    el("div", { class: "scroll" }, el("table", { id: "sessions" },
      el("thead", {}, el("tr", {}, ...["id", "subject", "task", "device", "placement", "start",
        "end", "cycles (live)", ""].map((h) => el("th", { text: h })))), list)));

  // Once stopped, the session's LocoHub parquet export (GET /v1/sessions/{id}/export).
  function download(s) {
    const link = (kind, text) => el("a", { class: `export-${kind}`, text,
      href: api.href(`/sessions/${s.id}/export?kind=${kind}`), download: "" });
    return el("span", {}, link("phase", "cycles.parquet"), " ", link("time", "samples.parquet"));
  }

  const counts = new Map(); // session id -> cycles seen since this page opened
  const unsubscribe = new Map(); // device -> unsubscribe of its gait channel

  async function refresh() {
    const { sessions } = await api.get("/sessions");
    sessions.sort((a, b) => b.id - a.id);
    const open = new Set(sessions.filter((s) => s.end_us == null).map((s) => s.device));
    for (const [device, off] of unsubscribe) if (!open.has(device)) { off(); unsubscribe.delete(device); }
    for (const s of sessions.filter((x) => x.end_us == null)) {
      if (unsubscribe.has(s.device)) continue;
      unsubscribe.set(s.device, live.subscribe(`device.${s.device}.gait`, (m) => {
        if (m.type !== "cycle") return;
        counts.set(s.id, (counts.get(s.id) ?? 0) + 1);
        const cell = list.querySelector(`tr[data-session="${s.id}"] .cycles`);
        if (cell) cell.textContent = String(counts.get(s.id));
      }));
    }
    list.replaceChildren(...sessions.slice(0, 50).map((s) => {
      const stop = el("button", { type: "button", text: "Stop" });
      stop.addEventListener("click", () => act(() => api.post(`/sessions/${s.id}/stop`, {})));
      return el("tr", { "data-session": String(s.id), "data-open": String(s.end_us == null) },
        el("td", { text: String(s.id) }), el("td", { text: s.subject }), el("td", { text: s.task }),
        el("td", { text: s.device }), el("td", { text: `${s.placement} ${s.side}` }),
        el("td", { text: clock(s.start_us) }), el("td", { text: s.end_us == null ? "open" : clock(s.end_us) }),
        el("td", { class: "cycles", text: String(counts.get(s.id) ?? 0) }),
        el("td", {}, s.end_us == null ? stop : download(s)));
    }));
  }

  async function act(change) {
    error.textContent = "";
    try { await change(); } catch (err) { error.textContent = err.message; }
    await refresh().catch((err) => { error.textContent = err.message; });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = Object.fromEntries(new FormData(form));
    act(() => api.post("/sessions", body));
  });
  api.get("/devices").then(({ devices }) => {
    deviceSelect.replaceChildren(...devices.map((d) => el("option", { value: d.id, text: d.id })));
  }).catch((err) => { error.textContent = err.message; });
  refresh().catch((err) => { error.textContent = err.message; });
  return () => { for (const off of unsubscribe.values()) off(); };
}
