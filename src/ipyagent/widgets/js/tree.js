// The agent tree, with live states and a cancel button per running agent.
/** @typedef {import("./wire").TreeNode} TreeNode */

function render({ model, el }) {
  const root = h("div", "ipa ipa-tree");
  const list = h("div", "ipa-nodes");
  const err = h("div", "ipa-error");
  err.hidden = true;
  root.append(list, err);
  el.append(root);

  /** @param {TreeNode} n */
  function nodeEls(n, depth, out) {
    const d = h("div", "ipa-node");
    d.dataset.path = n.path;
    d.dataset.status = n.status;
    d.dataset.state = n.state;
    d.style.paddingLeft = `${8 + depth * 20}px`;
    d.append(h("span", "ipa-node-name", (depth ? "└ " : "") + n.name));
    if (n.how !== "root") d.append(h("span", "ipa-node-how", n.how));
    // One word per agent: what it does while it runs, how it ended otherwise.
    const word = n.status === "running" ? n.state : n.status;
    d.append(stateBadge(word));
    const notes = [];
    if (n.running) notes.push(`${n.running} tool call${n.running > 1 ? "s" : ""} running`);
    if (n.failure && (n.status === "failed" || n.status === "cancelled")) notes.push(n.failure);
    if (notes.length) d.append(h("span", `ipa-node-status ipa-ns-${n.status}`, notes.join(" · ")));
    d.append(h("span", "ipa-node-task", n.task));
    if (n.status === "running") {
      const below = countBelow(n);
      const what = depth === 0
        ? `stop ${n.name}` + (below ? ` and its ${below} sub-agent${below > 1 ? "s" : ""}` : "")
        : `stop ${n.name}` + (below ? ` and ${below} below it` : "");
      const b = h("button", "ipa-cancel", what);
      b.title = `cancel ${n.path}: its generation, its tool calls and every sub-agent under it`;
      const ask = h("span", "ipa-confirm");
      ask.hidden = true;
      const yes = h("button", "ipa-yes", "yes, cancel");
      const no = h("button", "ipa-no", "keep running");
      ask.append(h("span", "", `cancel ${n.name}'s whole tree? its work so far stays in the ledger`), yes, no);
      const asking = (on) => {
        if (on) confirming.add(n.path);
        else confirming.delete(n.path);
        ask.hidden = !on;
        b.hidden = on;
      };
      const go = () => {
        asking(false);
        b.disabled = true;
        model.send({ type: "cancel", path: n.path });
      };
      // The main agent's whole tree asks first; a sub-agent stops at once.
      b.onclick = () => (depth === 0 ? asking(true) : go());
      yes.onclick = go;
      no.onclick = () => asking(false);
      asking(confirming.has(n.path));
      d.append(b, ask);
    }
    out.push(d);
    for (const c of n.children) nodeEls(c, depth + 1, out);
    return out;
  }

  const confirming = new Set(); // paths whose cancel waits for "yes" (kept across redraws)

  function countBelow(n) {
    return n.children.reduce((k, c) => k + 1 + countBelow(c), 0);
  }

  function draw() {
    list.replaceChildren(...nodeEls(model.get("tree"), 0, []));
  }

  return live(model, ["tree"], draw, err);
}

export default { render };
