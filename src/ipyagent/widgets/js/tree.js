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
    d.append(stateBadge(n.state));
    let status = n.status;
    if (n.running) status += ` · ${n.running} task(s) running`;
    if (n.failure && (n.status === "failed" || n.status === "cancelled")) status += `: ${n.failure}`;
    d.append(h("span", `ipa-node-status ipa-ns-${n.status}`, status));
    d.append(h("span", "ipa-node-task", n.task));
    if (n.status === "running") {
      const b = h("button", "ipa-cancel", "cancel");
      b.title = `stop ${n.path} and everything under it`;
      b.onclick = () => {
        b.disabled = true;
        model.send({ type: "cancel", path: n.path });
      };
      d.append(b);
    }
    out.push(d);
    for (const c of n.children) nodeEls(c, depth + 1, out);
    return out;
  }

  function draw() {
    list.replaceChildren(...nodeEls(model.get("tree"), 0, []));
  }

  return live(model, ["tree"], draw, err);
}

export default { render };
