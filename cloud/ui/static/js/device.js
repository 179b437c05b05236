// Device page: the last 10 s of the six channels (at most 50 Hz) with ICs and FCs marked,
// the last 20 cycles normalised to 0–100 % with their mean ± SD, and cadence and stride
// time over the last minutes. Charts redraw at most once per animation frame.
import uPlot from "../vendor/uplot/uPlot.esm.js";
import * as api from "./api.js";
import { configForm, configOf, FIELDS, syncText } from "./config.js";
import { clock, el, fixed } from "./format.js";
import { DEFAULT_SAMPLES_PER_FRAME, RateMeter } from "./rate.js";

const WINDOW_S = 10;
const HISTORY_S = 30; // kept to cut cycles that close a little after they are drawn
const RATE_HZ = 50;
const CYCLES_SHOWN = 20;
const TREND_S = 300;
const POINTS = 101; // 0..100 % of the cycle
const CHANNELS = ["ax", "ay", "az", "gx", "gy", "gz"];
const COLOURS = ["#e63946", "#2a9d8f", "#457b9d"];

function width(node) { return Math.max(300, node.clientWidth - 10); }

// Vertical lines at the ICs (solid) and FCs (dashed) inside the plotted window.
function eventMarks(events) {
  return {
    hooks: {
      draw: [(u) => {
        const { ctx, bbox } = u;
        ctx.save();
        for (const e of events) {
          const x = u.valToPos(e.t, "x", true);
          if (x < bbox.left || x > bbox.left + bbox.width) continue;
          ctx.strokeStyle = e.kind === "IC" ? "#111" : "#888";
          ctx.setLineDash(e.kind === "IC" ? [] : [4, 4]);
          ctx.beginPath();
          ctx.moveTo(x, bbox.top);
          ctx.lineTo(x, bbox.top + bbox.height);
          ctx.stroke();
        }
        ctx.restore();
      }],
    },
  };
}

function traceChart(node, names, unit, events) {
  return new uPlot({
    width: width(node), height: 220, plugins: [eventMarks(events)],
    scales: { x: { time: true } },
    axes: [{}, { label: unit, size: 60 }],
    series: [{}, ...names.map((n, i) => ({ label: n, stroke: COLOURS[i], width: 1 }))],
  }, [[], ...names.map(() => [])], node);
}

function mean(values) { return values.reduce((a, b) => a + b, 0) / values.length; }

// Linear interpolation of (t, v) between t0 and t1 onto POINTS equally spaced points.
function normalise(times, values, t0, t1) {
  const out = new Array(POINTS);
  let j = 0;
  for (let i = 0; i < POINTS; i++) {
    const t = t0 + (t1 - t0) * i / (POINTS - 1);
    while (j < times.length - 2 && times[j + 1] < t) j++;
    const span = times[j + 1] - times[j];
    const f = span > 0 ? Math.min(1, Math.max(0, (t - times[j]) / span)) : 0;
    out[i] = values[j] + f * (values[j + 1] - values[j]);
  }
  return out;
}

export function show(main, live, id) {
  const figures = el("div", { class: "figures" });
  const invalid = el("tbody");
  const error = el("p", { class: "error", role: "alert" });
  const accNode = el("div"), gyroNode = el("div"), cycleNode = el("div"), trendNode = el("div");
  const configBody = el("tbody");
  const configSync = el("p", { id: "config-sync" });
  const configSection = el("section", { id: "config" }, el("h2", { text: "Config" }), configSync,
    el("div", { class: "scroll" }, el("table", {}, el("thead", {}, el("tr", {},
      ...["setting", "desired", "reported"].map((h) => el("th", { text: h })))), configBody)));
  const conf = { desiredVersion: null, desired: null, reportedVersion: null, reported: null };
  const meter = new RateMeter();
  const device = { battery: null, rssi: null, envUs: null, samplesPerFrame: null };
  main.append(
    el("h1", { text: `Device ${id}` }), error, figures,
    el("div", { class: "charts" }, accNode, gyroNode),
    el("div", { class: "charts" },
      el("section", {}, el("h2", { text: "Last 20 cycles, gz normalised (mean ± SD)" }), cycleNode),
      el("section", {}, el("h2", { text: "Cadence and stride time" }), trendNode)),
    el("h2", { text: "Invalid cycles" }),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "time" }), el("th", { text: "reason" }))), invalid),
    configSection);

  const times = [];
  const channels = Object.fromEntries(CHANNELS.map((c) => [c, []]));
  const events = [];
  const cycles = []; // normalised gz of the last CYCLES_SHOWN valid cycles
  const trend = { t: [], cadence: [], stride: [] };
  const stats = { samples: 0, cycles: 0, valid: 0, events: 0 };
  const acc = traceChart(accNode, ["ax", "ay", "az"], "m/s²", events);
  const gyro = traceChart(gyroNode, ["gx", "gy", "gz"], "rad/s", events);
  const pct = Array.from({ length: POINTS }, (_, i) => i * 100 / (POINTS - 1));
  const cycleChart = new uPlot({
    width: width(cycleNode), height: 240, legend: { show: false },
    scales: { x: { time: false } },
    axes: [{ label: "% of cycle" }, { label: "gz rad/s", size: 60 }],
    series: [{}, ...Array.from({ length: CYCLES_SHOWN }, () => ({ stroke: "#bbb", width: 1 })),
      { stroke: "#1d3557", width: 2.5 }, { stroke: "#e63946", dash: [5, 5] },
      { stroke: "#e63946", dash: [5, 5] }],
  }, [pct, ...Array.from({ length: CYCLES_SHOWN + 3 }, () => pct.map(() => null))], cycleNode);
  const trendChart = new uPlot({
    width: width(trendNode), height: 240,
    scales: { x: { time: true }, s: { auto: true } },
    axes: [{}, { label: "steps/min", size: 60 }, { scale: "s", side: 1, label: "stride s", grid: { show: false }, values: (u, ticks) => ticks.map((v) => v.toFixed(4)) }],
    series: [{}, { label: "cadence", stroke: "#2a9d8f", points: { show: true } },
      { label: "stride time", scale: "s", stroke: "#457b9d", points: { show: true } }],
  }, [[], [], []], trendNode);

  let dirty = false;
  let frame = 0;
  function draw() {
    frame = 0;
    if (!dirty) return;
    dirty = false;
    const x = times.map((t) => t / 1e6);
    const end = x.length ? x[x.length - 1] : Date.now() / 1000;
    for (const [chart, names] of [[acc, ["ax", "ay", "az"]], [gyro, ["gx", "gy", "gz"]]]) {
      chart.setData([x, ...names.map((n) => channels[n])], false);
      chart.setScale("x", { min: end - WINDOW_S, max: end });
    }
    figures.replaceChildren(...[
      ["samples", stats.samples], ["events", stats.events],
      ["cycles", `${stats.valid} valid / ${stats.cycles}`],
      ["cadence", `${fixed(trend.cadence.at(-1), 0)} steps/min`],
      ["stride time", `${fixed(trend.stride.at(-1), 2)} s`],
      ["battery", device.battery == null ? "—" : `${fixed(device.battery, 0)} %`],
      ["RSSI", device.rssi == null ? "—" : `${fixed(device.rssi, 0)} dBm`],
      ["samples/s", fixed(meter.perSecond(), 0)],
      ["frames/s", fixed(meter.perSecond() == null ? null :
        meter.perSecond() / (device.samplesPerFrame ?? conf.reported?.samples_per_frame ?? DEFAULT_SAMPLES_PER_FRAME))],
    ].map(([name, value]) => el("span", { "data-figure": name }, `${name}: `, el("b", { text: String(value) }))));
  }
  function changed() {
    dirty = true;
    if (!frame) frame = requestAnimationFrame(draw);
  }

  function onData(message) {
    meter.add(message.received);
    for (const s of message.samples) {
      times.push(s.time_us);
      for (const c of CHANNELS) channels[c].push(s[c] ?? null);
    }
    stats.samples += message.samples.length;
    const oldest = times[times.length - 1] - HISTORY_S * 1e6;
    let drop = 0;
    while (drop < times.length && times[drop] < oldest) drop++;
    if (drop) { times.splice(0, drop); for (const c of CHANNELS) channels[c].splice(0, drop); }
    while (events.length && events[0].t * 1e6 < oldest) events.shift();
    changed();
  }

  function addTrend(row) {
    trend.t.push(row.time_us / 1e6);
    trend.cadence.push(row.cadence);
    trend.stride.push(row.duration_s);
    while (trend.t.length && trend.t[0] < row.time_us / 1e6 - TREND_S) {
      trend.t.shift(); trend.cadence.shift(); trend.stride.shift();
    }
    trendChart.setData([trend.t, trend.cadence, trend.stride]);
  }

  function addInvalid(row) {
    invalid.prepend(el("tr", {}, el("td", { text: clock(row.time_us) }), el("td", { text: row.reason || "?" })));
    while (invalid.children.length > 20) invalid.lastChild.remove();
  }

  function addCycle(row) {
    stats.cycles += 1;
    if (!row.valid) { addInvalid(row); changed(); return; }
    stats.valid += 1;
    addTrend(row);
    const start = row.time_us, end = row.end_us;
    const i0 = times.findIndex((t) => t >= start);
    let i1 = times.length - 1;
    while (i1 > 0 && times[i1] > end) i1--;
    // A cycle that began before the buffer did is not cut (it would start flat).
    const covered = i0 >= 0 && times[i0] - start <= 2e6 / RATE_HZ && end - times[i1] <= 2e6 / RATE_HZ;
    if (!covered || i1 - i0 < 4) { changed(); return; }
    cycles.push(normalise(times.slice(i0, i1 + 1), channels.gz.slice(i0, i1 + 1), start, end));
    if (cycles.length > CYCLES_SHOWN) cycles.shift();
    const m = pct.map((_, i) => mean(cycles.map((c) => c[i])));
    const sd = pct.map((_, i) => Math.sqrt(mean(cycles.map((c) => (c[i] - m[i]) ** 2))));
    const shown = Array.from({ length: CYCLES_SHOWN }, (_, k) => cycles[k] ?? pct.map(() => null));
    cycleChart.setData([pct, ...shown, m, m.map((v, i) => v + sd[i]), m.map((v, i) => v - sd[i])]);
    changed();
  }

  function onGait(message) {
    if (message.type === "event") {
      stats.events += 1;
      events.push({ t: message.time_us / 1e6, kind: message.kind });
      changed();
    } else if (message.type === "cycle") {
      addCycle(message);
    }
  }

  function renderConfig() {
    configSync.textContent = `version (reported / desired): ${syncText(conf.desiredVersion, conf.reportedVersion)}`;
    configBody.replaceChildren(...FIELDS.map(([name, label, unit]) => el("tr", { "data-setting": name },
      el("td", { text: `${label}${unit ? ` (${unit})` : ""}` }),
      el("td", { class: "desired", text: String(conf.desired?.[name] ?? "—") }),
      el("td", { class: "reported", text: String(conf.reported?.[name] ?? "—") }))));
  }

  function onEnv(message) {
    for (const s of message.samples) { // out of time order is possible: the newest wins
      if (device.envUs != null && s.time_us < device.envUs) continue;
      device.envUs = s.time_us;
      device.battery = s.battery ?? null;
      device.rssi = s.rssi ?? null;
    }
    changed();
  }

  function onStatus(message) {
    if (message.type === "config") {
      if (message.status !== "rejected") conf.reportedVersion = message.version ?? conf.reportedVersion;
      if (message.desired_version) conf.desiredVersion = Math.max(conf.desiredVersion ?? 0, message.desired_version);
      device.samplesPerFrame = message.samples_per_frame ?? device.samplesPerFrame;
    } else if (message.config_version != null) {
      conf.reportedVersion = message.config_version;
    }
    renderConfig();
  }

  const unsubscribe = [
    live.subscribe(`device.${id}.data`, onData, RATE_HZ),
    live.subscribe(`device.${id}.gait`, onGait),
    live.subscribe(`device.${id}.env`, onEnv),
    live.subscribe(`device.${id}.status`, onStatus),
  ];
  const enc = encodeURIComponent(id);
  api.get(`/devices/${enc}`).then((info) => {
    const state = info.status ?? {};
    if (device.envUs == null) { device.battery = state.battery ?? null; device.rssi = state.rssi ?? null; }
    conf.reportedVersion = conf.reportedVersion ?? state.config_version;
    const c = configOf(info);
    conf.desiredVersion = c.desiredVersion ?? conf.desiredVersion;
    conf.desired = c.desired;
    conf.reported = c.reported;
    conf.reportedVersion = conf.reportedVersion ?? c.reportedVersion;
    renderConfig();
    changed();
  }).catch((err) => { error.textContent = `Could not load the device: ${err.message}`; });
  renderConfig();
  if (api.me.role === "admin") {
    configSection.append(el("h3", { text: "Set the next config (admin)" }), configForm(id, (saved) => {
      conf.desiredVersion = saved.version;
      conf.desired = saved.config;
      renderConfig();
    }));
  }
  const start = new Date(Date.now() - TREND_S * 1000).toISOString();
  api.get(`/devices/${enc}/cycles?start=${start}&limit=1000`).then((page) => {
    for (const row of page.rows) if (row.valid) addTrend(row); else addInvalid(row);
  }).catch((err) => { error.textContent = `Could not load recent cycles: ${err.message}`; });
  function resize() {
    for (const [chart, node] of [[acc, accNode], [gyro, gyroNode], [cycleChart, cycleNode], [trendChart, trendNode]]) {
      chart.setSize({ width: width(node), height: chart.height });
    }
  }
  window.addEventListener("resize", resize);
  return () => {
    unsubscribe.forEach((fn) => fn());
    window.removeEventListener("resize", resize);
    if (frame) cancelAnimationFrame(frame);
    for (const chart of [acc, gyro, cycleChart, trendChart]) chart.destroy();
  };
}
