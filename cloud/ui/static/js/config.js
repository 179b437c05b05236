// A device's config, desired (what the cloud last signed and published) against reported
// (what the device says it runs), and the admin's form to set the next desired config
// through PUT /v1/devices/{id}/config. Validation errors are shown next to their field.
import * as api from "./api.js";
import { el } from "./format.js";

// The fields of RemoteConfig (cloud/protocol/config.py) a form can set; range_checks
// stays with the CLI (`gaitlink device config set`).
export const FIELDS = [
  ["rate_hz", "sample rate", "Hz", "number"],
  ["samples_per_frame", "samples per frame", "", "number"],
  ["acc_range_g", "accelerometer range", "g", "number"],
  ["gyro_range_dps", "gyroscope range", "°/s", "number"],
  ["status_period_s", "status period", "s", "number"],
  ["env_period_s", "environment period", "s", "number"],
  ["axis_map", "axis map", "", "text"],
];

// In sync: the device runs the version the cloud wants. Unknown (null) when either is.
export function inSync(desired, reported) {
  if (desired == null || reported == null) return null;
  return desired === reported;
}

export function syncText(desired, reported) {
  const sync = inSync(desired, reported);
  if (desired == null && reported == null) return "—";
  const pair = `${reported == null ? "—" : `v${reported}`} / ${desired == null ? "—" : `v${desired}`}`;
  if (sync === null) return pair;
  return sync ? `${pair} ✓` : `${pair} out of sync`;
}

// The desired and reported config of GET /v1/devices/{id}, in whichever shape the
// service gives; null fields when it does not say.
export function configOf(device) {
  const c = device.config ?? {};
  const desired = c.desired ?? device.desired ?? null;
  const reported = c.reported ?? device.reported ?? null;
  return {
    desiredVersion: desired?.version ?? null,
    desired: desired?.config ?? desired?.values ?? null,
    reportedVersion: reported?.version ?? null,
    reported: reported?.config ?? reported?.values ?? null,
  };
}

// "rate_hz: Value error, must divide 1000; body: ..." -> {rate_hz: "must divide 1000", ...}
export function fieldErrors(detail) {
  const errors = {};
  const other = [];
  for (const part of String(detail).split("; ")) {
    const match = /^([a-z_]+)(?:\.[^:]*)?: (?:Value error, )?(.*)$/.exec(part);
    const name = match && FIELDS.some(([f]) => f === match[1]) ? match[1] : null;
    if (name) errors[name] = match[2];
    else other.push(part);
  }
  return { errors, other: other.join("; ") };
}

export function configForm(id, onSaved) {
  const inputs = {};
  const errors = {};
  const note = el("p", { class: "error", role: "alert", "data-error-for": "form" });
  const form = el("form", { id: "config-form", class: "inline" },
    ...FIELDS.map(([name, label, unit, type]) => {
      inputs[name] = el("input", { name, type, ...(type === "number" ? { step: "1" } : {}) });
      errors[name] = el("span", { class: "error", "data-error-for": name });
      return el("label", {}, `${label}${unit ? ` (${unit})` : ""}`, inputs[name], errors[name]);
    }),
    el("button", { type: "submit", text: "Set config" }), note);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const span of Object.values(errors)) span.textContent = "";
    note.textContent = "";
    const body = {};
    for (const [name, , , type] of FIELDS) {
      const raw = inputs[name].value.trim();
      if (raw === "") continue; // left out: the device keeps its value
      body[name] = type === "number" ? Number(raw) : raw;
    }
    if (!Object.keys(body).length) { note.textContent = "Fill in at least one field."; return; }
    try {
      const saved = await api.put(`/devices/${encodeURIComponent(id)}/config`, body);
      note.textContent = "";
      form.reset();
      onSaved(saved);
    } catch (err) {
      const { errors: byField, other } = fieldErrors(err.message);
      for (const [name, text] of Object.entries(byField)) errors[name].textContent = text;
      note.textContent = other;
    }
  });
  return form;
}
