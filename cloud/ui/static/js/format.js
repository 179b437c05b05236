// Small shared formatting and DOM helpers.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

export function ago(timeUs) {
  if (timeUs == null) return "never";
  const s = Math.max(0, Date.now() / 1000 - timeUs / 1e6);
  if (s < 90) return `${s.toFixed(0)} s ago`;
  if (s < 5400) return `${(s / 60).toFixed(0)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}

export const clock = (timeUs) => new Date(timeUs / 1000).toISOString().slice(11, 19);
export const fixed = (value, digits = 1) => (value == null ? "—" : Number(value).toFixed(digits));
