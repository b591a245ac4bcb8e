// The timeline: a Gantt picture of each agent's dialog states and each background task.
/** @typedef {import("./wire").Timeline} TimelineData */

const LANE_H = 18;
const GAP = 5;
const LABEL_W = 190;
const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function niceStep(span) {
  const raw = span / 8;
  const p = Math.pow(10, Math.floor(Math.log10(raw || 1)));
  for (const m of [1, 2, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
}

function render({ model, el }) {
  const root = h("div", "ipa ipa-timeline");
  const legend = h("div", "ipa-legend");
  let legendFor = null;

  /** Every colour and mark the picture uses, each with its name (drawn once per palette). */
  function drawLegend(palette) {
    if (legendFor === palette) return;
    legendFor = palette;
    const items = [];
    const swatch = (label, color, title) => {
      const item = h("span", "ipa-key", label);
      const sw = h("i");
      sw.style.background = color;
      item.prepend(sw);
      if (title) item.title = title;
      item.dataset.key = label;
      return item;
    };
    items.push(h("b", "", "agent:"));
    for (const [k, c] of Object.entries(palette.states)) items.push(swatch(k, c, `the agent is ${k}`));
    items.push(h("b", "", "tool:"));
    for (const [k, c] of Object.entries(palette.tasks)) items.push(swatch(k, c, `a tool call ${k}`));
    items.push(h("b", "", "marks:"));
    for (const [k, m] of Object.entries(palette.marks)) {
      const item = h("span", "ipa-key", ` ${m.label}`);
      const glyph = h("span", "ipa-glyph", m.mark);
      glyph.style.color = m.color;
      item.prepend(glyph);
      item.dataset.key = k;
      items.push(item);
    }
    legend.replaceChildren(...items);
  }

  const holder = h("div");
  root.append(holder, legend);
  el.append(root);
  let received = performance.now();

  function draw() {
    /** @type {TimelineData} */
    const d = model.get("data");
    if (!d || !d.lanes) return;
    const pal = d.palette;
    drawLegend(pal);
    const colour = (lane, v) => (lane.kind === "state" ? pal.states[v] : pal.tasks[v]) || "#999";
    const open = d.lanes.some((l) => l.spans.some((x) => x.e === null));
    const now = d.now + (d.real && open ? (performance.now() - received) / 1000 : 0);
    let end = now;
    for (const l of d.lanes) for (const x of l.spans) end = Math.max(end, x.e ?? x.s);
    let start = end;
    for (const l of d.lanes) for (const x of l.spans) start = Math.min(start, x.s);
    start = Math.min(start, 0);
    const span = Math.max(end - start, 1e-3);
    const width = Math.max(480, root.clientWidth || 800);
    const plotW = width - LABEL_W - 12;
    const x = (t) => LABEL_W + ((t - start) / span) * plotW;
    const height = 22 + d.lanes.length * (LANE_H + GAP);
    const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, height });
    const step = niceStep(span);
    for (let t = Math.ceil(start / step) * step; t <= end + 1e-9; t += step) {
      svg.append(s("line", { x1: x(t), x2: x(t), y1: 14, y2: height, class: "ipa-axis" }));
      svg.append(s("text", { x: x(t) + 2, y: 11 }, `${+t.toFixed(3)} s`));
    }
    d.lanes.forEach((lane, k) => {
      const y = 20 + k * (LANE_H + GAP);
      const g = s("g", { "data-kind": lane.kind, "data-agent": lane.agent, "data-label": lane.label });
      const depth = lane.agent.split("/").length - 1;
      const label = lane.kind === "state" ? lane.label : `   ${lane.label}`;
      g.append(s("text", { x: 4 + depth * 10, y: y + 13, "font-weight": lane.kind === "state" ? 600 : 400 }, label));
      for (const sp of lane.spans) {
        const e = sp.e === null ? now : sp.e;
        const r = s("rect", {
          x: x(sp.s), y, width: Math.max(1.5, x(e) - x(sp.s)), height: LANE_H, rx: 2,
          fill: colour(lane, sp.v), "data-value": sp.v,
        });
        r.append(s("title", {}, `${lane.label}: ${sp.v} ${sp.s.toFixed(2)}–${sp.e === null ? "now" : e.toFixed(2)} s`));
        g.append(r);
      }
      if (lane.kind === "state") {
        for (const m of d.marks.filter((m) => m.agent === lane.agent)) {
          const key = pal.marks[m.kind] || pal.marks.notification;
          // The mark's glyph, centred on its moment, just above the lane.
          const p = s("text", {
            x: x(m.t), y: y + 1, "text-anchor": "middle", "font-size": 10, fill: key.color,
            "data-mark": m.kind, class: "ipa-mark",
          }, key.mark);
          p.append(s("title", {}, `${m.what} at ${m.t.toFixed(2)} s: ${m.text}`));
          g.append(p);
        }
      }
      svg.append(g);
    });
    holder.replaceChildren(svg);
  }

  const off = listen(model, "change:data", () => {
    received = performance.now();
    draw();
  });
  const tick = setInterval(() => {
    const d = model.get("data");
    if (d && d.real && d.lanes.some((l) => l.spans.some((x) => x.e === null))) draw();
  }, 250);
  draw();
  const bye = presence(model);
  return () => {
    bye();
    off();
    clearInterval(tick);
  };
}

export default { render };
