// ipyagent's JupyterLab extension, written by hand (no build step): one plugin that acts on the
// buttons in the agent's cell views and chat box. The kernel renders those buttons hidden; this
// plugin shows them (one style rule) and answers their clicks:
//   copy         a code block of an answer -> the clipboard
//   insert-cell  a code block -> a new code cell under the cell that shows it
//   approve/deny a request to run code -> the kernel, over the comm "ipyagent.actions", which
//                replies with one line shown beside the buttons (see ipyagent/kernel/actions.py)
// JupyterLab loads prebuilt extensions as module-federation containers registered on
// window._JUPYTERLAB under the package's name: `get("./extension")` resolves to a factory of the
// module whose default export is the list of plugins.
(function () {
  "use strict";
  const NAME = "ipyagent-lab";
  const TARGET = "ipyagent.actions";
  const SHOW = `
    .ipyagent-code-bar button, .ipyagent-approval-actions button { display: inline-block !important; }
    .ipyagent-code-bar button {
      font: inherit; font-size: 11px; line-height: 16px; padding: 0 8px; cursor: pointer;
      color: var(--jp-ui-font-color1); background: var(--jp-layout-color1);
      border: 1px solid var(--jp-border-color1); border-radius: 3px;
    }
    .ipyagent-code-bar button:hover { background: var(--jp-layout-color2); }
    .ipyagent-approval-actions button { margin-right: 4px; }
    .ipyagent-reply { margin-top: 2px; font-weight: 600; }`;

  /** The notebook panel (a main-area widget with a kernel session) that holds `node`. */
  function panelOf(app, node) {
    for (const w of app.shell.widgets("main")) {
      if (w.node.contains(node) && w.content && w.sessionContext) return w;
    }
    return null;
  }

  /** Say something beside `button` (the next redraw of the view replaces it). */
  function say(button, text, ok) {
    const box = button.parentElement;
    let line = box.querySelector(".ipyagent-reply");
    if (!line) {
      line = document.createElement("div");
      line.className = "ipyagent-reply";
      box.append(line);
    }
    line.textContent = text;
    line.style.color = ok ? "#1a7f37" : "#c62828";
  }

  async function copy(button, code) {
    try {
      await navigator.clipboard.writeText(code);
      const was = button.textContent;
      button.textContent = "copied ✓";
      setTimeout(() => (button.textContent = was), 1500);
    } catch (err) {
      say(button, `could not copy (${err && err.name ? err.name : err}): select the code and copy it`, false);
    }
  }

  function insertCell(app, button, code) {
    const panel = panelOf(app, button);
    const cellNode = button.closest(".jp-Cell");
    const notebook = panel && panel.content;
    const index = notebook ? notebook.widgets.findIndex((c) => c.node === cellNode) : -1;
    if (index < 0) {
      say(button, "this view is not in a notebook cell: use copy", false);
      return;
    }
    notebook.model.sharedModel.insertCell(index + 1, { cell_type: "code", source: code, metadata: {} });
    notebook.activeCellIndex = index + 1;
    notebook.mode = "command";
    const cell = notebook.widgets[index + 1];
    if (cell) cell.node.scrollIntoView({ block: "nearest" });
  }

  const comms = new WeakMap(); // kernel connection -> { comm, waiting: Map(seq -> button) }
  let seq = 0;

  function channel(kernel) {
    let entry = comms.get(kernel);
    if (entry && !entry.comm.isDisposed) return entry;
    const comm = kernel.createComm(TARGET);
    entry = { comm, waiting: new Map() };
    const waiting = entry.waiting;
    comm.onMsg = (msg) => {
      const reply = msg.content.data || {};
      const button = waiting.get(reply.seq);
      waiting.delete(reply.seq);
      if (button) say(button, reply.text, reply.ok);
    };
    comm.onClose = () => {
      for (const button of waiting.values()) say(button, "the kernel closed the connection; nothing ran", false);
      comms.delete(kernel);
    };
    comm.open({});
    comms.set(kernel, entry);
    return entry;
  }

  function answer(app, button, yes) {
    const box = button.closest(".ipyagent-approval");
    const panel = panelOf(app, button);
    const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
    if (!box || !kernel) {
      say(button, "no kernel is connected to this notebook; nothing ran", false);
      return;
    }
    const entry = channel(kernel);
    seq += 1;
    entry.waiting.set(seq, button);
    say(button, yes ? "asking the kernel to run it…" : "telling the kernel…", true);
    entry.comm.send({
      action: "answer", request: box.dataset.request, digest: box.dataset.digest, yes, seq,
    });
  }

  function onClick(app, event) {
    const button = event.target instanceof Element && event.target.closest("[data-ipyagent-action]");
    if (!button) return;
    event.preventDefault();
    event.stopPropagation();
    const action = button.dataset.ipyagentAction;
    const block = button.closest(".ipyagent-code");
    const pre = block && block.querySelector("pre");
    const code = pre ? pre.textContent : "";
    if (action === "copy") void copy(button, code);
    else if (action === "insert-cell") insertCell(app, button, code);
    else if (action === "approve" || action === "deny") answer(app, button, action === "approve");
  }

  const plugin = {
    id: `${NAME}:actions`,
    description: "Buttons of ipyagent's cell views: copy or insert code, answer requests to run code.",
    autoStart: true,
    activate(app) {
      const style = document.createElement("style");
      style.textContent = SHOW;
      document.head.append(style);
      document.addEventListener("click", (event) => onClick(app, event));
    },
  };

  const containers = (window._JUPYTERLAB = window._JUPYTERLAB || {});
  containers[NAME] = {
    init() {},
    get(module) {
      if (module !== "./extension") return Promise.reject(new Error(`${NAME} has no module ${module}`));
      return Promise.resolve(() => ({ __esModule: true, default: [plugin] }));
    },
  };
})();
