// The chat box. Sending while the agent generates or speaks interrupts it (decided in the kernel).
/** @typedef {import("./wire").ChatLine} ChatLine */

function render({ model, el }) {
  const root = h("div", "ipa ipa-chat");
  const bar = h("div", "ipa-bar");
  const who = h("span", "ipa-node-name");
  let badge = stateBadge("idle");
  const stop = h("button", "ipa-cancel", "stop");
  stop.title = "interrupt the agent";
  bar.append(who, badge, stop);
  const transcript = h("div", "ipa-transcript");
  const compose = h("div", "ipa-compose");
  const box = h("textarea", "ipa-input");
  box.placeholder = "Message the agent (Enter to send, Shift+Enter for a new line)";
  box.rows = 1;
  const send = h("button", "ipa-send", "send");
  compose.append(box, send);
  const err = h("div", "ipa-error");
  err.hidden = true;
  root.append(bar, transcript, compose, err);
  el.append(root);

  let drawn = new Map(); // ledger index -> { key, node }
  const liveNode = h("div", "ipa-msg ipa-r-live");

  /** An answer: the kernel's Markdown rendering (ipyagent/markdown.py: raw HTML in the answer is
   *  escaped there, links checked, attributes fixed), or the plain text. */
  function answerNode(html, text) {
    const d = h("div", "ipa-md");
    if (html) d.innerHTML = html;
    else d.textContent = text;
    return d;
  }

  function lineNode(l) {
    const d = h("div", `ipa-msg ipa-r-${l.role}`);
    if (l.role === "assistant") d.append(answerNode(l.html, l.text));
    else d.textContent = l.role === "interruption" ? `✂ ${l.text}` : l.text;
    d.dataset.role = l.role;
    if (l.status && l.status !== "complete") d.dataset.status = l.status;
    return d;
  }

  function draw() {
    const state = model.get("state");
    who.textContent = model.get("name");
    const b = stateBadge(state);
    badge.replaceWith(b);
    badge = b;
    stop.disabled = state !== "generating" && state !== "emitting";
    /** @type {ChatLine[]} */
    const lines = model.get("lines") || [];
    const stick = transcript.scrollTop + transcript.clientHeight >= transcript.scrollHeight - 4;
    // Keyed by ledger index: a line already drawn keeps its node (no flicker, selection kept).
    const keep = new Map();
    const nodes = lines.map((l) => {
      const key = `${l.role}|${l.status || ""}|${l.text}`;
      const old = drawn.get(l.i);
      const node = old && old.key === key ? old.node : lineNode(l);
      keep.set(l.i, { key, node });
      return node;
    });
    drawn = keep;
    const text = model.get("live");
    if (text) {
      liveNode.replaceChildren(answerNode(model.get("live_html"), text), h("span", "ipa-caret", "▌"));
      nodes.push(liveNode);
    }
    if (nodes.length !== transcript.children.length || nodes.some((n, k) => transcript.children[k] !== n)) {
      transcript.replaceChildren(...nodes);
    }
    if (stick) transcript.scrollTop = transcript.scrollHeight;
  }

  function submit() {
    const text = box.value.trim();
    if (!text) return;
    model.send({ type: "send", text });
    box.value = "";
  }

  send.onclick = submit;
  box.onkeydown = (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      submit();
    }
    e.stopPropagation(); // keep JupyterLab's notebook shortcuts out of the box
  };
  stop.onclick = () => model.send({ type: "interrupt" });
  return live(model, ["lines", "live", "live_html", "state", "name"], draw, err);
}

export default { render };
