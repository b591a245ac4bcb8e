// The live ledger view. The kernel keeps the ledger; this view holds only the rows near what is
// in sight, asks for more as the user scrolls ({type: "window"}), and asks the kernel to filter
// and search ({type: "filter"}), so a ledger of a million entries costs what a screenful does.
// Rows are placed by their position among the entries shown; collapsed rows are ROW_H tall, an
// expanded row adds its measured extra height.

const ROW_H = 24; // collapsed row height, px (matches .ipa-row in widgets.css)
const OVERSCAN = 10; // rows drawn beyond the edges of the viewport
const FETCH = 160; // rows asked for at a time (the kernel sends at most 200)
const KEEP = 4000; // rows kept in memory; those farthest from sight are dropped beyond that
const MAX_H = 360; // the view grows with its rows up to this height, then scrolls
const MIN_H = ROW_H * 2;
// Browsers cap how tall an element may be (Firefox ~17.9 million px, Chromium ~33.5 million), so
// the scrolled area is never taller than this (the kernel may lower it, trait `tallest`); a longer
// list scrolls in proportion: the scrollbar's fraction is the list's fraction.
const TALLEST = 15_000_000;

function render({ model, el }) {
  const root = h("div", "ipa ipa-ledger");
  const bar = h("div", "ipa-bar");
  const follow = h("select", "ipa-follow");
  follow.title = "whose ledger to show";
  let badge = stateBadge("idle");
  const filters = h("span", "ipa-filters");
  const search = h("input", "ipa-search");
  search.type = "search";
  search.placeholder = "search…";
  search.title = "show only entries containing this text (searched in the kernel)";
  const count = h("span", "ipa-count");
  bar.append(follow, badge, filters, search, count);
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

  /** @type {Map<number, Row>} position -> row */
  let cache = new Map();
  /** @type {Map<string, CallState>} */
  const calls = new Map();
  let shown = 0; // entries the filter lets through (the list's length)
  let total = 0; // entries in the ledger
  let counts = {};
  let hidden = new Set(["system"]);
  let query = "";
  const expanded = new Set(); // ledger indices of expanded rows
  let extras = []; // [position, extra px] of expanded rows, by position
  let offset = 0; // browser wall clock minus the agent's wall clock, seconds
  let stick = true;
  let asked = null; // the window asked for and not yet answered: [start, end)
  let userHeight = false; // the user resized the view: keep their height
  let setHeight = 0;
  let pending = null; // performance.now() when unrendered changes arrived
  let handling = 0; // ms spent handling messages since the last draw
  let waitingReset = true;
  let searching = null; // {query, done, total} while the kernel searches a long ledger
  // Timings for bench/widgets.py: handler and draw costs, and the time to show the ledger.
  const stats = (root.ipaStats = { draws: 0, times: [], work: [], start: performance.now(), total: -1, loaded: null });

  const now = () => Date.now() / 1000 - offset;

  function extraBefore(p) {
    let px = 0;
    for (const [q, x] of extras) if (q < p) px += x;
    return px;
  }
  const top = (p) => p * ROW_H + extraBefore(p);
  const fullHeight = () => top(shown);
  const tallest = () => model.get("tallest") || TALLEST;
  const spacerHeight = () => Math.min(fullHeight(), tallest());
  const viewHeight = () => viewport.clientHeight || setHeight || MAX_H;
  /** How many px of the list one px of scrolling moves (1 unless the list is taller than allowed). */
  function scrollScale() {
    const full = fullHeight();
    const most = tallest();
    if (full <= most) return 1;
    const h = Math.min(viewHeight(), most / 2);
    return (full - h) / (most - h);
  }
  /** The list's y (px, every row laid out) at the top of the viewport. */
  const listY = () => viewport.scrollTop * scrollScale();

  /** The position whose row covers height `y` (the last row whose top is at or above it). */
  function firstAt(y) {
    let lo = 0;
    let hi = Math.max(0, shown - 1);
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (top(mid) <= y) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  function callStatus(r) {
    const c = r.call_id ? calls.get(r.call_id) : undefined;
    return c ? c.status : r.call || "pending";
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

  function placeholder(p) {
    const d = h("div", "ipa-row ipa-missing");
    d.dataset.p = p;
    d.append(h("div", "ipa-line", "…"));
    return d;
  }

  function rowEl(r) {
    const open = expanded.has(r.i);
    const d = h("div", `ipa-row ipa-k-${r.kind}${open ? " ipa-open" : ""}`);
    d.dataset.i = r.i;
    d.dataset.p = r.p;
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
    // What the backend noted about an answer (how a tool was chosen, a repetition stopped).
    if (r.notes) line.append(h("span", "ipa-notes", `ⓘ ${r.notes}`));
    if (r.kind === "subagent") {
      const b = h("button", "ipa-go", "follow →");
      b.onclick = (e) => {
        e.stopPropagation();
        model.send({ type: "follow", path: `${follow.value}/${r.name}` });
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
      add("notes", r.notes);
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
        extras = extras.filter(([q]) => q !== r.p);
      } else expanded.add(r.i);
      draw();
    };
    return d;
  }

  /** Ask for the rows around [first, last) that are not here (one request at a time). */
  function fetchAround(first, last) {
    let missing = -1;
    for (let p = first; p < last; p++) {
      if (!cache.has(p)) {
        missing = p;
        break;
      }
    }
    if (missing < 0 || (asked && missing >= asked[0] && missing < asked[1])) return;
    const start = Math.max(0, Math.min(missing, last - FETCH));
    asked = [start, start + FETCH];
    model.send({ type: "window", start, count: FETCH });
  }

  function forget(first, last) {
    if (cache.size <= KEEP) return;
    const keepFrom = first - KEEP / 4;
    const keepTo = last + KEEP / 4;
    for (const p of cache.keys()) if (p < keepFrom || p > keepTo) cache.delete(p);
  }

  function size() {
    if (userHeight) return;
    const want = Math.max(MIN_H, Math.min(MAX_H, fullHeight() + 2));
    if (want !== setHeight) {
      viewport.style.height = `${want}px`;
      setHeight = want;
    }
  }

  function draw() {
    size();
    const height = viewHeight();
    spacer.style.height = `${spacerHeight()}px`;
    const y = listY();
    // Rows are placed where the list's y falls in the scrolled area (the same unless scaled).
    const place = (p) => `translateY(${viewport.scrollTop + top(p) - y}px)`;
    const first = Math.max(0, firstAt(y) - OVERSCAN);
    const last = Math.min(shown, firstAt(y + height) + OVERSCAN + 1);
    win.style.transform = place(first);
    const items = [];
    let complete = true;
    for (let p = first; p < last; p++) {
      const r = cache.get(p);
      if (r) items.push(rowEl(r));
      else {
        items.push(placeholder(p));
        complete = false;
      }
    }
    win.replaceChildren(...items);
    let moved = false;
    for (const item of items) {
      const i = Number(item.dataset.i);
      if (!expanded.has(i)) continue;
      const p = Number(item.dataset.p);
      const extra = item.offsetHeight - ROW_H;
      const known = extras.find(([q]) => q === p);
      if (!known || known[1] !== extra) {
        extras = extras.filter(([q]) => q !== p);
        extras.push([p, extra]);
        extras.sort((a, b) => a[0] - b[0]);
        moved = true;
      }
    }
    if (moved) {
      spacer.style.height = `${spacerHeight()}px`;
      win.style.transform = place(first);
    }
    if (!complete) fetchAround(first, last);
    forget(first, last);
    const found = query ? ` matching “${query}”` : "";
    count.textContent = searching
      ? `searching “${searching.query}”… ${Math.floor((100 * searching.done) / Math.max(1, searching.total))} %`
      : `${shown} of ${total} entries${found}`;
    latest.hidden = stick || shown === 0;
    void win.offsetHeight; // the layout is part of the cost measured below
    stats.draws++;
    return complete;
  }

  let ownScroll = -1; // the scrollTop we set ourselves, until the user scrolls
  /** Scroll so that the list's y `y` is at the top. */
  function scrollTo(y) {
    viewport.scrollTop = y / scrollScale();
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
      if (stick) {
        spacer.style.height = `${spacerHeight()}px`;
        size();
        scrollTo(fullHeight());
      }
      const complete = draw();
      const t1 = performance.now();
      stats.times.push(t1 - pending);
      stats.work.push(handling + (t1 - t0));
      if (stats.times.length > 1000) stats.times.splice(0, 500);
      if (stats.work.length > 1000) stats.work.splice(0, 500);
      if (stats.loaded === null && !waitingReset && complete) stats.loaded = t1 - stats.start;
      pending = null;
      handling = 0;
    });
  }

  function sendFilter() {
    // Keep reading where the user is: the entry at the top of the view (or the newest).
    const r = cache.get(firstAt(listY()));
    const msg = { type: "filter", hidden: [...hidden].join(","), query };
    if (!stick && r) msg.anchor = r.i;
    model.send(msg);
  }

  let chipsFor = "";
  function drawFilters() {
    const kinds = Object.keys(KIND_LABEL).filter((k) => counts[k]);
    const key = JSON.stringify([kinds.map((k) => counts[k]), [...hidden]]);
    if (key === chipsFor) return;
    chipsFor = key;
    filters.replaceChildren(
      ...kinds.map((k) => {
        const b = h("button", `ipa-chip ipa-k-${k}${hidden.has(k) ? " ipa-off" : ""}`, `${KIND_LABEL[k]} ${counts[k]}`);
        b.dataset.kind = k;
        b.title = hidden.has(k) ? "show" : "hide";
        b.onclick = () => {
          if (hidden.has(k)) hidden.delete(k);
          else hidden.add(k);
          chipsFor = "";
          drawFilters();
          sendFilter();
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

  function take(rows) {
    for (const r of rows) if (r.p !== undefined) cache.set(r.p, r);
  }

  /** @param {ServerMsg} msg */
  function onMsg(msg) {
    if (!msg || typeof msg !== "object") return;
    const t0 = performance.now();
    switch (msg.type) {
      case "reset": {
        if (msg === snapshot) stats.snapshot = t0 - stats.start;
        else if (stats.reset === undefined) stats.reset = t0 - stats.start; // the kernel's answer came
        searching = null;
        cache = new Map();
        calls.clear();
        expanded.clear();
        extras = [];
        asked = null;
        waitingReset = false;
        shown = msg.shown;
        total = msg.total;
        counts = msg.counts;
        hidden = new Set(msg.hidden);
        query = msg.query;
        if (document.activeElement !== search) search.value = query;
        chipsFor = "";
        take(msg.rows);
        for (const c of msg.calls) calls.set(c.call_id, c);
        stats.total = shown;
        setAgents(msg.agents, msg.path);
        root.dataset.path = msg.path;
        showLive(null);
        // The newest rows: stick to the end; rows from an anchor: keep reading there.
        stick = msg.newest;
        if (!stick) {
          spacer.style.height = `${spacerHeight()}px`;
          scrollTo(top(msg.start));
        }
        break;
      }
      case "searching":
        searching = msg;
        break;
      case "rows":
        asked = null;
        shown = msg.shown;
        take(msg.rows);
        break;
      case "batch":
        take(msg.rows);
        shown = msg.shown;
        total = msg.total;
        counts = msg.counts;
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
  // The newest rows as when the output was made: drawn at once, until the kernel's reset comes.
  let snapshot = null;
  const fromSnapshot = () => {
    const first = model.get("first");
    if (!waitingReset || !first || first.type !== "reset") return;
    snapshot = first;
    onMsg(first);
  };
  const offFirst = listen(model, "change:first", fromSnapshot);
  fromSnapshot();
  const offErr = errorLine(model, err);
  follow.onchange = () => model.send({ type: "follow", path: follow.value });
  let typing = 0;
  search.oninput = () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      query = search.value.trim();
      sendFilter();
    }, 250);
  };
  search.onkeydown = (e) => e.stopPropagation(); // keep JupyterLab's shortcuts out of the box
  viewport.onscroll = () => {
    // Only the user's own scrolling decides whether the view sticks to the newest entry: our
    // scroll to the bottom may be reported after more rows arrived.
    if (viewport.scrollTop !== ownScroll) {
      stick = viewport.scrollTop + viewport.clientHeight >= spacerHeight() - 4;
      ownScroll = -1;
    }
    draw();
  };
  // A height the user drags to (the view is resizable) is theirs to keep.
  const resized = new ResizeObserver(() => {
    if (setHeight && Math.abs(viewport.offsetHeight - setHeight) > 2) userHeight = true;
  });
  resized.observe(viewport);
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
    offFirst();
    offErr();
    resized.disconnect();
    clearInterval(tick);
    if (frame) cancelAnimationFrame(frame);
  };
}

export default { render };
