// ipyagent widgets: helpers shared by every widget module (this file is prepended to each one).
// The message shapes are in wire.d.ts.
/** @typedef {import("./wire").Row} Row */
/** @typedef {import("./wire").CallState} CallState */
/** @typedef {import("./wire").ServerMsg} ServerMsg */
/** @typedef {import("./wire").ClientMsg} ClientMsg */

const KIND_LABEL = {
  system: "system",
  user: "user",
  assistant: "assistant",
  tool_call: "tool call",
  tool_result: "tool result",
  notification: "notification",
  interruption: "interrupted",
  subagent: "sub-agent",
};

/** Make an element with a class and text. */
function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

/** Local time of day from wall-clock seconds: 09:30:05. */
function clockTime(t) {
  const d = new Date(t * 1000);
  const p = (n) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** 0.4 s, 12 s, 3 min 5 s. */
function duration(s) {
  if (s < 10) return `${Math.max(0, s).toFixed(1)} s`;
  const w = Math.round(s);
  if (w < 60) return `${w} s`;
  const m = Math.floor(w / 60);
  return w % 60 ? `${m} min ${w % 60} s` : `${m} min`;
}

/** Subscribe to a model event; returns the function that unsubscribes. */
function listen(model, name, fn) {
  model.on(name, fn);
  return () => model.off(name, fn);
}

/** Show the kernel's one-line error messages ({type: "error"}) in `box`. */
function errorLine(model, box) {
  return listen(model, "msg:custom", (msg) => {
    if (msg && msg.type === "error") {
      box.textContent = msg.text;
      box.hidden = false;
      clearTimeout(box._t);
      box._t = setTimeout(() => (box.hidden = true), 10000);
    }
  });
}

/** A state badge: idle, listening, generating, emitting. */
function stateBadge(state) {
  const b = h("span", `ipa-state ipa-s-${state}`, state);
  b.dataset.state = state;
  return b;
}

/** Tell the kernel this view exists (it stops sending once every view has gone); returns the
 *  goodbye to call from the view's cleanup. */
function presence(model) {
  model.send({ type: "hello" });
  return () => {
    try {
      model.send({ type: "bye" });
    } catch (_) {
      // the widget is already closed
    }
  };
}

/** Draw now and again whenever one of the model's `fields` changes; show the kernel's error lines
 *  in `err` (if given); tell the kernel the view exists. Returns the view's cleanup. */
function live(model, fields, draw, err) {
  const offs = fields.map((f) => listen(model, `change:${f}`, draw));
  if (err) offs.push(errorLine(model, err));
  draw();
  const bye = presence(model);
  return () => {
    bye();
    offs.forEach((off) => off());
  };
}
