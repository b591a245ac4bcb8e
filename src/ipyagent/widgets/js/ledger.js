// The live ledger view. Rows live in memory; only those in sight are in the DOM (a virtualised
// list with a prefix sum of row heights), so 10,000 entries cost what a screenful does.

const ROW_H = 24; // collapsed row height, px (matches .ipa-row in widgets.css)
const OVERSCAN = 6;

function render({ model, el }) {
  const root = h("div", "ipa ipa-ledger");
  const bar = h("div", "ipa-bar");
  const follow = h("select", "ipa-follow");
  follow.title = "whose ledger to show";
  let badge = stateBadge("idle");
  const filters = h("span", "ipa-filters");
  const count = h("span", "ipa-count");
  bar.append(follow, badge, filters, count);
  const viewport = h("div", "ipa-viewport");
  const spacer = h("div", "ipa-spacer");
  const win = h("div", "ipa-window");
  spacer.append(win);
  viewport.append(spacer);
  const liveBox = h("div", "ipa-live");
  liveBox.hidden = true;
  const latest = h("button", "ipa-latest", "↓ latest");
  latest.hidden = true;
  const err = h("div", "ipa-error");
  err.hidden = true;
  root.append(bar, viewport, latest, liveBox, err);
  el.append(root);

  /** @type {Row[]} */
  let rows = [];
  /** @type {Map<string, CallState>} */
  const calls = new Map();
  const rejected = new Set(); // call ids the dispatcher rejected
  // For calls whose task is gone (a resumed ledger), the status follows from the ledger itself.
  const taskOfCall = new Map(); // call id -> task id, from "started" tool results
  const endOfTask = new Map(); // task id -> how it ended, from notifications
  const ENDS = { tool_result: "done", tool_error: "failed", tool_timeout: "timeout", tool_cancelled: "cancelled" };
  const counts = {};
  const hidden = new Set(["system"]);
  const expanded = new Set();
  const heights = new Map(); // row index -> measured height, for expanded rows
  let visible = []; // indices of rows that pass the filter
  let offsets = [0]; // offsets[k] = top of visible[k]; offsets[visible.length] = total height
  let offset = 0; // browser wall clock minus the agent's wall clock, seconds
  let stick = true;
  let syncing = false;
  let pending = null; // performance.now() when unrendered changes arrived
  let handling = 0; // ms spent handling messages since the last draw
  // Timings for bench/widgets.py: handler and draw costs, and the time to show a whole ledger.
  const stats = (root.ipaStats = { draws: 0, times: [], work: [], start: performance.now(), total: -1, loaded: null });

  const now = () => Date.now() / 1000 - offset;
  const passes = (r) => !hidden.has(r.kind);

  function rebuild() {
    visible = [];
    for (const r of rows) if (passes(r)) visible.push(r.i);
    offsets = new Array(visible.length + 1);
    offsets[0] = 0;
    for (let k = 0; k < visible.length; k++) offsets[k + 1] = offsets[k] + (heights.get(visible[k]) || ROW_H);
  }

  function put(r) {
    if (r.i < rows.length) {
      rows[r.i] = r;
      return;
    }
    if (r.i > rows.length) {
      if (!syncing) {
        syncing = true;
        model.send({ type: "sync" });
      }
      return;
    }
    rows.push(r);
    counts[r.kind] = (counts[r.kind] || 0) + 1;
    if (r.kind === "tool_result" && r.status === "rejected" && r.call_id) rejected.add(r.call_id);
    if (r.kind === "tool_result" && r.task_id && r.call_id) taskOfCall.set(r.call_id, r.task_id);
    if (r.kind === "notification" && r.task_id && ENDS[r.source]) endOfTask.set(r.task_id, ENDS[r.source]);
    if (passes(r)) {
      visible.push(r.i);
      offsets.push(offsets[offsets.length - 1] + ROW_H);
    }
  }

  function callStatus(r) {
    if (r.call_id && rejected.has(r.call_id)) return "rejected";
    const c = r.call_id ? calls.get(r.call_id) : undefined;
    if (c) return c.status;
    const task = r.call_id ? taskOfCall.get(r.call_id) : undefined;
    if (task === undefined) return "pending";
    return endOfTask.get(task) || "started";
  }

  function summary(r) {
    switch (r.kind) {
      case "tool_call": {
        let args = r.text;
        if (r.args) {
          try {
            const o = JSON.parse(r.args);
            args = Object.entries(o)
              .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
              .join(", ");
          } catch (_) {
            args = r.args;
          }
        }
        return `${r.name || "?"}(${args})`;
      }
      case "tool_result": {
        const what = [r.name, r.status].filter(Boolean).join(" ");
        if (r.task_id) return `${what} as ${r.task_id}`;
        return what ? `${what}: ${r.text}` : r.text;
      }
      case "notification": {
        const tag = [r.source, r.task_id, r.name].filter(Boolean).join(" ");
        // A result that waited while the agent was busy says how old it was when recorded.
        const held = r.finished !== undefined && r.t - r.finished >= 1
          ? ` (finished ${duration(r.t - r.finished)} earlier)` : "";
        return (tag ? `[${tag}] ${r.text}` : r.text) + held;
      }
      case "interruption":
        return `✂ ${r.text}`;
      case "subagent":
        return `${r.status || "sub-agent"} '${r.name}'${r.task_id ? ` (${r.task_id})` : ""}: ${r.text}`;
      case "assistant":
        return r.status && r.status !== "complete" ? `${r.text} [${r.status}]` : r.text;
      default:
        return r.text;
    }
  }

  function rowEl(r) {
    const open = expanded.has(r.i);
    const d = h("div", `ipa-row ipa-k-${r.kind}${open ? " ipa-open" : ""}`);
    d.dataset.i = r.i;
    d.dataset.kind = r.kind;
    const line = h("div", "ipa-line");
    line.append(h("span", "ipa-time", clockTime(r.t)), h("span", "ipa-kind", KIND_LABEL[r.kind] || r.kind));
    if (r.kind === "tool_call") {
      const st = callStatus(r);
      const c = r.call_id ? calls.get(r.call_id) : undefined;
      const pill = h("span", `ipa-pill ipa-st-${st}`, st);
      d.dataset.status = st;
      line.append(pill);
      if (c) line.append(h("span", "ipa-dur", duration(c.duration !== null ? c.duration : now() - c.start)));
      if (c && c.status === "running" && c.progress) {
        const p = h("span", "ipa-progress", c.progress);
        if (c.fraction !== null) p.style.background =
          `linear-gradient(90deg, rgba(106,27,154,0.18) ${Math.round(c.fraction * 100)}%, transparent 0)`;
        line.append(p);
      }
    }
    line.append(h("span", "ipa-text", summary(r)));
    if (r.kind === "subagent") {
      const b = h("button", "ipa-go", "follow →");
      b.onclick = (e) => {
        e.stopPropagation();
        const base = follow.value;
        model.send({ type: "follow", path: `${base}/${r.name}` });
      };
      line.append(b);
    }
    d.append(line);
    if (open) {
      const more = h("div", "ipa-detail");
      const add = (label, text) => {
        if (!text) return;
        more.append(h("div", "ipa-label", label), h("pre", "ipa-pre", text));
      };
      add("text", r.text + (r.more ? `\n[… ${r.more} more characters]` : ""));
      add("arguments", r.args);
      const c = r.kind === "tool_call" && r.call_id ? calls.get(r.call_id) : undefined;
      if (c) {
        add("task", `${c.task_id}: ${c.status}, started ${clockTime(c.start)}` +
          (c.duration !== null ? `, took ${duration(c.duration)}` : ""));
        add("progress", c.progress);
        add("result", c.result);
      }
      const meta = [`#${r.i}`, r.source && `source ${r.source}`, r.gen !== undefined && `generation ${r.gen}`];
      more.append(h("div", "ipa-meta", meta.filter(Boolean).join(" · ")));
      more.onclick = (e) => e.stopPropagation(); // select and copy without collapsing
      d.append(more);
    }
    d.onclick = () => {
      if (open) {
        expanded.delete(r.i);
        heights.delete(r.i);
      } else expanded.add(r.i);
      rebuild();
      draw();
    };
    return d;
  }

  function firstAt(y) {
    let lo = 0;
    let hi = visible.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (offsets[mid + 1] <= y) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  function draw() {
    const top = viewport.scrollTop;
    const height = viewport.clientHeight || 360;
    spacer.style.height = `${offsets[visible.length]}px`;
    const first = Math.max(0, firstAt(top) - OVERSCAN);
    let last = firstAt(top + height) + OVERSCAN;
    last = Math.min(visible.length, last + 1);
    win.style.transform = `translateY(${offsets[first]}px)`;
    const items = [];
    for (let k = first; k < last; k++) items.push(rowEl(rows[visible[k]]));
    win.replaceChildren(...items);
    let moved = false;
    for (const item of items) {
      const i = Number(item.dataset.i);
      if (expanded.has(i) && heights.get(i) !== item.offsetHeight) {
        heights.set(i, item.offsetHeight);
        moved = true;
      }
    }
    if (moved) {
      rebuild();
      spacer.style.height = `${offsets[visible.length]}px`;
    }
    count.textContent = `${visible.length} of ${rows.length} entries`;
    latest.hidden = stick || visible.length === 0;
    void win.offsetHeight; // the layout is part of the cost measured below
    stats.draws++;
  }

  let ownScroll = -1; // the scrollTop we set ourselves, until the user scrolls
  function toBottom() {
    viewport.scrollTop = offsets[visible.length];
    ownScroll = viewport.scrollTop;
  }

  let frame = 0;
  function schedule() {
    if (pending === null) pending = performance.now();
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      const t0 = performance.now();
      drawFilters();
      draw();
      if (stick) toBottom();
      const t1 = performance.now();
      stats.times.push(t1 - pending);
      stats.work.push(handling + (t1 - t0));
      if (stats.times.length > 1000) stats.times.splice(0, 500);
      if (stats.work.length > 1000) stats.work.splice(0, 500);
      if (stats.loaded === null && stats.total >= 0 && rows.length >= stats.total) stats.loaded = t1 - stats.start;
      pending = null;
      handling = 0;
    });
  }

  function drawFilters() {
    const kinds = Object.keys(KIND_LABEL).filter((k) => counts[k]);
    filters.replaceChildren(
      ...kinds.map((k) => {
        const b = h("button", `ipa-chip ipa-k-${k}${hidden.has(k) ? " ipa-off" : ""}`, `${KIND_LABEL[k]} ${counts[k]}`);
        b.dataset.kind = k;
        b.title = hidden.has(k) ? "show" : "hide";
        b.onclick = () => {
          // Keep the entry at the top of the view in place (or the next one still shown).
          const anchor = visible[firstAt(viewport.scrollTop)];
          if (hidden.has(k)) hidden.delete(k);
          else hidden.add(k);
          rebuild();
          if (!stick && anchor !== undefined) {
            let lo = 0;
            let hi = visible.length;
            while (lo < hi) {
              const mid = (lo + hi) >> 1;
              if (visible[mid] < anchor) lo = mid + 1;
              else hi = mid;
            }
            spacer.style.height = `${offsets[visible.length]}px`;
            viewport.scrollTop = offsets[lo];
            ownScroll = viewport.scrollTop;
          }
          drawFilters();
          draw();
        };
        return b;
      }),
    );
  }

  function setAgents(paths, path) {
    follow.replaceChildren(...paths.map((p) => h("option", "", p)));
    if (path) follow.value = path;
  }

  function setState(state) {
    const b = stateBadge(state);
    badge.replaceWith(b);
    badge = b;
  }

  function showLive(live) {
    liveBox.hidden = !live || !live.text;
    if (live) liveBox.textContent = `${follow.value || "agent"} ▸ ${live.text}▌`;
  }

  /** @param {ServerMsg} msg */
  function onMsg(msg) {
    if (!msg || typeof msg !== "object") return;
    const t0 = performance.now();
    switch (msg.type) {
      case "reset":
        rows = [];
        calls.clear();
        rejected.clear();
        taskOfCall.clear();
        endOfTask.clear();
        expanded.clear();
        heights.clear();
        for (const k of Object.keys(counts)) delete counts[k];
        syncing = false;
        stick = true;
        stats.total = msg.total;
        setAgents(msg.agents, msg.path);
        root.dataset.path = msg.path;
        showLive(null);
        rebuild();
        break;
      case "rows":
        for (const r of msg.rows) put(r);
        for (const c of msg.calls) calls.set(c.call_id, c);
        break;
      case "batch":
        for (const r of msg.rows) put(r);
        for (const c of msg.calls) calls.set(c.call_id, c);
        offset = Date.now() / 1000 - msg.now;
        if (msg.agents) setAgents(msg.agents, root.dataset.path);
        setState(msg.state);
        showLive(msg.live);
        break;
      default:
        return;
    }
    if (pending === null) pending = t0;
    handling += performance.now() - t0;
    schedule();
  }

  const offMsg = listen(model, "msg:custom", onMsg);
  const offErr = errorLine(model, err);
  follow.onchange = () => model.send({ type: "follow", path: follow.value });
  viewport.onscroll = () => {
    // Only the user's own scrolling decides whether the view sticks to the newest entry: our
    // scroll to the bottom may be reported after more rows arrived.
    if (viewport.scrollTop !== ownScroll) {
      stick = viewport.scrollTop + viewport.clientHeight >= offsets[visible.length] - 4;
      ownScroll = -1;
    }
    draw();
  };
  latest.onclick = () => {
    stick = true;
    schedule();
  };
  // Running tool calls show a ticking duration.
  const tick = setInterval(() => {
    for (const c of calls.values()) if (c.status === "running") return draw();
  }, 500);
  const bye = presence(model);
  model.send({ type: "sync" });
  return () => {
    bye();
    offMsg();
    offErr();
    clearInterval(tick);
    if (frame) cancelAnimationFrame(frame);
  };
}

export default { render };
