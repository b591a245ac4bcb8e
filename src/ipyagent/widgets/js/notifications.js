// The notifications feed: newest on top; each arrival flashes briefly.
/** @typedef {import("./wire").Notice} Notice */

function render({ model, el }) {
  const root = h("div", "ipa ipa-notifications");
  const bar = h("div", "ipa-bar", "notifications");
  const count = h("span", "ipa-count");
  bar.append(count);
  const feed = h("div", "ipa-feed");
  const err = h("div", "ipa-error");
  err.hidden = true;
  root.append(bar, feed, err);
  el.append(root);
  const drawn = new Set();

  function draw() {
    /** @type {Notice[]} */
    const items = model.get("items") || [];
    count.textContent = items.length ? `${items.length}` : "";
    const nodes = items
      .slice()
      .reverse()
      .map((n) => {
        const key = `${n.agent}#${n.i}`;
        const d = h("div", `ipa-note ipa-lv-${n.level}`);
        if (drawn.has(key)) d.style.animation = "none";
        drawn.add(key);
        d.dataset.source = n.source;
        d.dataset.level = n.level;
        const who = [n.task_id || (n.agent.includes("/") ? n.agent : ""), n.name].filter(Boolean).join(" ");
        d.append(
          h("span", "ipa-time", clockTime(n.t)),
          h("span", "ipa-note-src", `${n.source}${who ? " · " + who : ""}`),
          h("span", "ipa-text", n.text),
        );
        return d;
      });
    feed.replaceChildren(...(nodes.length ? nodes : [h("div", "ipa-empty", "no notifications yet")]));
  }

  return live(model, ["items"], draw, err);
}

export default { render };
