// The dialog state indicator.

function render({ model, el }) {
  const root = h("div", "ipa ipa-indicator");
  root.style.display = "inline-flex";
  root.style.gap = "6px";
  root.style.alignItems = "center";
  root.style.padding = "2px 6px";
  el.append(root);

  function draw() {
    const running = model.get("running");
    root.replaceChildren(
      h("span", "ipa-node-name", model.get("name")),
      stateBadge(model.get("state")),
      h("span", "ipa-node-status", model.get("status") + (running ? ` · ${running} task(s) running` : "")),
    );
  }

  return live(model, ["state", "status", "running"], draw);
}

export default { render };
