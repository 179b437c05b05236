// Fleet page: one row per device, kept live by its status, env, data (1 Hz) and the alerts
// channels; a device that first sends data after the page opened arrives on `devices`.
// Devices that need attention sort to the top.
import * as api from "./api.js";
import { configOf, inSync, syncText } from "./config.js";
import { ago, clock, el, fixed } from "./format.js";
import { DEFAULT_SAMPLES_PER_FRAME, RateMeter } from "./rate.js";

// As the service's offline_after_s (docs/api.md): silent this long counts as offline.
const OFFLINE_AFTER_S = 60;
const RECENT_GAP_S = 300;
const LOW_BATTERY_PCT = 20;
const MAX_ALERTS = 200;
const ALERT_KINDS = ["gap", "seq_jump", "dead_letter"];
const COLUMNS = ["device", "state", "last seen", "placement", "battery", "RSSI", "firmware",
  "config (reported / desired)", "samples/s", "frames/s", "frames dropped", "gaps", "seq jumps",
  "attention"];

function attention(row) {
  const reasons = [];
  if (!row.online) reasons.push("offline");
  if (row.battery != null && row.battery < LOW_BATTERY_PCT) reasons.push("low battery");
  if (inSync(row.desiredVersion, row.configVersion) === false) reasons.push("config out of sync");
  if (row.lastGapUs && Date.now() * 1000 - row.lastGapUs < RECENT_GAP_S * 1e6) reasons.push("recent gap");
  if (row.imu === "lost") reasons.push("IMU lost");
  return reasons;
}

const unit = (value, digits, suffix) => (value == null ? "—" : `${fixed(value, digits)}\u00a0${suffix}`);

export function show(main, live) {
  const body = el("tbody");
  const alerts = el("ul", { id: "alerts" });
  const error = el("p", { class: "error", role: "alert" });
  main.append(
    el("div", { class: "layout" },
      el("section", { class: "fleet" },
        el("h1", { text: "Fleet" }), error,
        el("div", { class: "scroll" }, el("table", { id: "fleet" },
          el("thead", {}, el("tr", {}, ...COLUMNS.map((h) => el("th", { text: h })))),
          body))),
      el("section", { class: "alerts" }, el("h2", { text: "Alerts" }), alerts)));

  const rows = new Map(); // shown: loaded once
  const known = new Map(); // every device heard of, loaded or not yet
  const unsubscribe = [];
  let deadLetters = 0;

  function render() {
    const now = Date.now() * 1000;
    for (const row of rows.values()) {
      row.online = row.state !== "offline" && row.lastSeenUs != null &&
        now - row.lastSeenUs <= OFFLINE_AFTER_S * 1e6;
      row.reasons = attention(row);
      row.samplesPerS = row.online ? row.rate.perSecond() : null;
    }
    const sorted = [...rows.values()].sort((a, b) =>
      b.reasons.length - a.reasons.length || a.id.localeCompare(b.id));
    body.replaceChildren(...sorted.map((row) => el("tr",
      { "data-device": row.id, class: row.reasons.length ? "attention" : "" },
      el("td", {}, el("a", { href: `#/device/${encodeURIComponent(row.id)}`, text: row.id })),
      el("td", { class: row.online ? "online" : "offline", text: row.online ? "online" : "offline" }),
      el("td", { text: ago(row.lastSeenUs) }),
      el("td", { text: row.placement ?? "—" }),
      el("td", { class: "battery", text: unit(row.battery, 0, "%") }),
      el("td", { class: "rssi", text: unit(row.rssi, 0, "dBm") }),
      el("td", { text: row.firmware ?? "—" }),
      el("td", { class: "config", text: syncText(row.desiredVersion, row.configVersion) }),
      el("td", { class: "samples-per-s", text: fixed(row.samplesPerS, 0) }),
      el("td", { class: "frames-per-s", text: fixed(row.samplesPerS == null ? null :
        row.samplesPerS / (row.samplesPerFrame ?? DEFAULT_SAMPLES_PER_FRAME)) }),
      el("td", { text: row.framesDropped ?? "—" }),
      el("td", { text: row.gaps }),
      el("td", { text: row.seqJumps }),
      el("td", { class: "attention", text: row.reasons.join(", ") }))));
  }

  function status(row, message) {
    if (message.type === "config") { // the device's config report
      if (message.status !== "rejected") row.configVersion = message.version ?? row.configVersion;
      // Until the API says what the cloud wants, the device's report of the newest desired
      // version it received (a rejected one stays out of sync).
      if (message.desired_version) row.desiredVersion = Math.max(row.desiredVersion ?? 0, message.desired_version);
      row.samplesPerFrame = message.samples_per_frame ?? row.samplesPerFrame;
      return;
    }
    row.framesDropped = message.frames_dropped ?? row.framesDropped;
    row.state = message.state ?? row.state;
    row.firmware = message.firmware_version ?? row.firmware;
    row.configVersion = message.config_version ?? row.configVersion;
    row.imu = message.imu ?? row.imu;
    row.lastSeenUs = Math.max(row.lastSeenUs ?? 0, message.time_us);
  }

  function env(row, message) {
    // Readings may arrive out of time order: the newest time wins.
    for (const s of message.samples) {
      if (row.envUs != null && s.time_us < row.envUs) continue;
      row.envUs = s.time_us;
      row.battery = s.battery ?? null;
      row.rssi = s.rssi ?? null;
      row.firmware = s.firmware ?? row.firmware;
      row.lastSeenUs = Math.max(row.lastSeenUs ?? 0, s.time_us);
    }
  }

  function data(row, message) {
    row.rate.add(message.received);
    const newest = Math.max(...message.samples.map((s) => s.time_us));
    row.lastSeenUs = Math.max(row.lastSeenUs ?? 0, newest);
    if (row.state === "offline") row.state = "online";
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

  // Once per device, whether from the list at load or from the `devices` channel. Every
  // device gets its status channel; env and data (two more subscriptions) only once it is
  // live, so devices long gone cost one subscription each (256 a connection).
  function rowOf(id, placement) {
    let row = known.get(id);
    if (row) return row;
    row = { id, placement, gaps: 0, seqJumps: 0, lastSeenUs: null, rate: new RateMeter() };
    known.set(id, row);
    // Subscribed before the status is read, so nothing between the two is missed.
    unsubscribe.push(live.subscribe(`device.${id}.status`, (m) => { status(row, m); render(); }));
    loadRow(row).finally(() => { rows.set(id, row); render(); });
    return row;
  }

  function goLive(row) {
    if (row.live) return;
    row.live = true;
    unsubscribe.push(
      live.subscribe(`device.${row.id}.env`, (m) => { env(row, m); render(); }),
      live.subscribe(`device.${row.id}.data`, (m) => { data(row, m); render(); }, 1));
  }

  async function loadRow(row) {
    try {
      // Desired against reported config, and the last status (null before any data).
      const device = await api.get(`/devices/${encodeURIComponent(row.id)}`);
      const state = device.status ?? { counters: {} };
      row.placement = device.placement ?? row.placement;
      row.state = row.state ?? state.state;
      row.lastSeenUs = Math.max(row.lastSeenUs ?? 0, state.last_seen_us ?? 0) || null;
      row.firmware = row.firmware ?? state.firmware_version;
      row.configVersion = row.configVersion ?? state.config_version;
      row.framesDropped = row.framesDropped ?? state.counters.frames_dropped;
      if (row.envUs == null) { row.battery = state.battery ?? null; row.rssi = state.rssi ?? null; }
      const config = configOf(device);
      row.desiredVersion = config.desiredVersion ?? row.desiredVersion ?? null;
      row.configVersion = row.configVersion ?? config.reportedVersion;
      row.samplesPerFrame = row.samplesPerFrame ?? config.reported?.samples_per_frame;
      if (state.online) goLive(row);
    } catch (err) {
      error.textContent = `Could not load ${row.id}: ${err.message}`;
    }
  }

  async function load() {
    const { devices } = await api.get("/devices");
    for (const d of devices) rowOf(d.id, d.placement);
  }

  unsubscribe.push(
    live.subscribe("alerts", addAlert),
    // Any device written to from now on: new ones get a row, all of them go live.
    live.subscribe("devices", (m) => goLive(rowOf(m.device))));
  load().catch((err) => { error.textContent = `Could not load the fleet: ${err.message}`; });
  // Re-renders the "last seen" ages and the offline timeout; the server is not asked.
  const ticker = setInterval(render, 1000);
  return () => { clearInterval(ticker); unsubscribe.forEach((fn) => fn()); };
}
