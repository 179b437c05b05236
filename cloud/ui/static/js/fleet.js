// Fleet page: one row per device, kept live by its status, data (1 Hz) and the alerts
// channel; devices that need attention sort to the top.
import * as api from "./api.js";
import { ago, clock, el, fixed } from "./format.js";

// As the service's offline_after_s (docs/api.md): silent this long counts as offline.
const OFFLINE_AFTER_S = 60;
const RECENT_GAP_S = 300;
const MAX_ALERTS = 200;
const ALERT_KINDS = ["gap", "seq_jump", "dead_letter"];

function attention(row) {
  const reasons = [];
  if (!row.online) reasons.push("offline");
  if (row.lastGapUs && Date.now() * 1000 - row.lastGapUs < RECENT_GAP_S * 1e6) reasons.push("recent gap");
  if (row.imu === "lost") reasons.push("IMU lost");
  return reasons;
}

export function show(main, live) {
  const body = el("tbody");
  const alerts = el("ul", { id: "alerts" });
  const error = el("p", { class: "error", role: "alert" });
  main.append(
    el("div", { class: "layout" },
      el("section", {},
        el("h1", { text: "Fleet" }), error,
        el("div", { class: "scroll" }, el("table", { id: "fleet" },
          el("thead", {}, el("tr", {}, ...["device", "state", "last seen", "placement",
            "firmware", "config", "frames/s", "frames dropped", "gaps", "seq jumps",
            "attention"].map((h) => el("th", { text: h })))),
          body))),
      el("section", {}, el("h2", { text: "Alerts" }), alerts)));

  const rows = new Map();
  const unsubscribe = [];
  let deadLetters = 0;

  function render() {
    const now = Date.now() * 1000;
    for (const row of rows.values()) {
      row.online = row.state !== "offline" && row.lastSeenUs != null &&
        now - row.lastSeenUs <= OFFLINE_AFTER_S * 1e6;
      row.reasons = attention(row);
    }
    const sorted = [...rows.values()].sort((a, b) =>
      b.reasons.length - a.reasons.length || a.id.localeCompare(b.id));
    body.replaceChildren(...sorted.map((row) => el("tr",
      { "data-device": row.id, class: row.reasons.length ? "attention" : "" },
      el("td", {}, el("a", { href: `#/device/${encodeURIComponent(row.id)}`, text: row.id })),
      el("td", { class: row.online ? "online" : "offline", text: row.online ? "online" : "offline" }),
      el("td", { text: ago(row.lastSeenUs) }),
      el("td", { text: row.placement }),
      el("td", { text: row.firmware ?? "—" }),
      el("td", { text: row.configVersion ?? "—" }),
      el("td", { text: fixed(row.framesPerS) }),
      el("td", { text: row.framesDropped ?? "—" }),
      el("td", { text: row.gaps }),
      el("td", { text: row.seqJumps }),
      el("td", { text: row.reasons.join(", ") }))));
  }

  function status(row, message) {
    const uptime = message.uptime_s;
    if (row.uptime != null && uptime > row.uptime && message.frames_sent != null) {
      row.framesPerS = (message.frames_sent - row.framesSent) / (uptime - row.uptime);
    }
    row.uptime = uptime ?? row.uptime;
    row.framesSent = message.frames_sent ?? row.framesSent;
    row.framesDropped = message.frames_dropped ?? row.framesDropped;
    row.state = message.state ?? row.state;
    row.firmware = message.firmware_version ?? row.firmware;
    row.configVersion = message.config_version ?? row.configVersion;
    row.imu = message.imu ?? row.imu;
    row.lastSeenUs = Math.max(row.lastSeenUs ?? 0, message.time_us);
  }

  function addAlert(message) {
    const kind = message.kind || "alert";
    if (kind === "dead_letter") deadLetters = message.count ?? deadLetters;
    const row = rows.get(message.device);
    if (row && kind === "gap") { row.gaps += 1; row.lastGapUs = Date.now() * 1000; }
    if (row && kind === "seq_jump") row.seqJumps += 1;
    const what = [clock(message.time_us ?? Date.now() * 1000), kind, message.device ?? "",
      message.reason ?? "", message.count != null ? `count ${message.count}` : ""];
    alerts.prepend(el("li", { class: ALERT_KINDS.includes(kind) ? "error" : "", text: what.filter(Boolean).join(" · ") }));
    while (alerts.children.length > MAX_ALERTS) alerts.lastChild.remove();
    render();
  }

  async function load() {
    const { devices } = await api.get("/devices");
    for (const d of devices) {
      const row = { id: d.id, placement: d.placement, gaps: 0, seqJumps: 0, lastSeenUs: null };
      rows.set(d.id, row);
      const state = await api.get(`/devices/${encodeURIComponent(d.id)}/status`);
      row.state = state.state;
      row.lastSeenUs = state.last_seen_us;
      row.firmware = state.firmware_version;
      row.configVersion = state.config_version;
      row.framesDropped = state.counters.frames_dropped;
      unsubscribe.push(
        live.subscribe(`device.${d.id}.status`, (m) => { status(row, m); render(); }),
        live.subscribe(`device.${d.id}.data`, (m) => {
          row.lastSeenUs = m.samples[m.samples.length - 1].time_us;
          if (row.state === "offline") row.state = "online";
          render();
        }, 1));
    }
    render();
  }

  unsubscribe.push(live.subscribe("alerts", addAlert));
  load().catch((err) => { error.textContent = `Could not load the fleet: ${err.message}`; });
  // Re-renders the "last seen" ages and the offline timeout; the server is not asked.
  const ticker = setInterval(render, 1000);
  return () => { clearInterval(ticker); unsubscribe.forEach((fn) => fn()); };
}
