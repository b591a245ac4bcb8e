// The voice widget: captures the mic (getUserMedia + AudioWorklet), sends 16 kHz PCM16 frames to
// the kernel as binary buffers, plays the audio the kernel sends, reports how much of each chunk
// has played, and stops at once when told. See voice.py for the message contract.

const FRAME_SAMPLES = 480; // 30 ms at 16 kHz
const TARGET_RATE = 16000;
const REPORT_MS = 50;

// Runs on the audio thread: hands each 128-sample block of the first channel to the page.
const WORKLET = `
class Tap extends AudioWorkletProcessor {
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (ch) this.port.postMessage(ch.slice(0));
    return true;
  }
}
registerProcessor("ipyagent-tap", Tap);
`;

const MIC_SVG = `<svg viewBox="0 0 24 24" width="20" height="20" fill="currentColor" aria-hidden="true">
<rect x="9" y="3" width="6" height="11" rx="3"/><path d="M6 11a6 6 0 0 0 12 0h-2a4 4 0 0 1-8 0z"/>
<rect x="11" y="17" width="2" height="4"/></svg>`;
const SPEAKER_SVG = `<svg viewBox="0 0 24 24" width="22" height="22" fill="currentColor" aria-hidden="true">
<path d="M4 9h4l5-4v14l-5-4H4z"/><path d="M16 8.5a5 5 0 0 1 0 7" stroke="currentColor" stroke-width="2" fill="none"/>
<path d="M18.5 6a8.5 8.5 0 0 1 0 12" stroke="currentColor" stroke-width="2" fill="none"/></svg>`;

const CSS = `
.ipyagent-voice { display: flex; align-items: center; gap: 10px; font: 13px sans-serif;
  padding: 6px 8px; border: 1px solid #d0d7de; border-radius: 8px; max-width: 640px; }
.ipyagent-voice button { display: flex; align-items: center; justify-content: center;
  width: 40px; height: 40px; border-radius: 50%; color: #24292f;
  border: 1px solid #888; background: #f6f8fa; cursor: pointer; }
.ipyagent-voice button.on { background: #d1242f; color: white; border-color: #a40e26; }
.ipyagent-voice .level { width: 90px; height: 8px; background: #eee; border-radius: 4px; overflow: hidden; }
.ipyagent-voice .level > div { height: 100%; width: 0%; background: #2da44e; transition: width 60ms; }
.ipyagent-voice .speaker { color: #0969da; opacity: 0.25; display: flex; }
.ipyagent-voice .speaker.playing { opacity: 1; }
.ipyagent-voice .text { flex: 1; min-width: 0; }
.ipyagent-voice .transcript { color: #24292f; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.ipyagent-voice .status { color: #656d76; font-size: 11px; }
.ipyagent-voice .transcript.trouble { color: #c62828; font-weight: 600; white-space: normal; }
`;

// Low-pass taps (windowed sinc, Blackman window) that keep speech below `cutoff` Hz and remove
// what would fold back below 8 kHz when the signal is taken down to 16 kHz.
function lowPassTaps(rate, cutoff) {
  const ratio = rate / TARGET_RATE;
  const n = 2 * Math.ceil(16 * ratio) + 1; // about 33 taps per 16 kHz output sample, odd
  const fc = cutoff / rate;
  const mid = (n - 1) / 2;
  const taps = new Float32Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const x = i - mid;
    const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)) + 0.08 * Math.cos((4 * Math.PI * i) / (n - 1));
    taps[i] = sinc * w;
    sum += taps[i];
  }
  for (let i = 0; i < n; i++) taps[i] /= sum;
  return taps;
}

function downsampler(fromRate) {
  // Microphones run at 44.1 or 48 kHz. Taking every third sample (or interpolating between
  // samples) folds everything above 8 kHz back into the speech band, which the VAD and speech
  // recognition then hear as noise; so: low-pass first (history carried across blocks), then
  // read the filtered signal at 16 kHz by linear interpolation.
  if (fromRate === TARGET_RATE) return (block) => Array.from(block);
  const taps = lowPassTaps(fromRate, 7200);
  const step = fromRate / TARGET_RATE;
  const history = new Float32Array(taps.length - 1);
  let pos = 0;
  let prev = 0;
  return (block) => {
    const input = new Float32Array(history.length + block.length);
    input.set(history);
    input.set(block, history.length);
    const filtered = new Float32Array(block.length);
    for (let i = 0; i < block.length; i++) {
      let acc = 0;
      for (let k = 0; k < taps.length; k++) acc += taps[k] * input[i + k];
      filtered[i] = acc;
    }
    history.set(input.subarray(input.length - history.length));
    const out = [];
    while (pos < filtered.length) {
      const i = Math.floor(pos);
      const frac = pos - i;
      const a = i === 0 ? prev : filtered[i - 1];
      out.push(a + (filtered[i] - a) * frac);
      pos += step;
    }
    pos -= filtered.length;
    prev = filtered[filtered.length - 1];
    return out;
  };
}

/** Why the microphone did not start, in words a user can act on (getUserMedia's error names). */
function micTrouble(err) {
  const name = (err && err.name) || String(err);
  if (name === "InsecureContext") {
    return "the browser allows the microphone only on https:// or localhost pages — open JupyterLab at http://localhost or over https";
  }
  if (["NotFoundError", "DevicesNotFoundError", "OverconstrainedError"].includes(name)) {
    return "no microphone found — plug one in or allow access, then click the mic again";
  }
  if (["NotAllowedError", "PermissionDeniedError", "SecurityError"].includes(name)) {
    return "microphone access was denied — allow it for this page (the icon left of the address), then click the mic again";
  }
  if (["NotReadableError", "TrackStartError", "AbortError"].includes(name)) {
    return "the microphone is in use by another program or could not start — free it, then click the mic again";
  }
  return `the microphone could not start (${name}${err && err.message ? `: ${err.message}` : ""}) — click the mic to try again`;
}

function render({ model, el }) {
  const style = document.createElement("style");
  style.textContent = CSS;
  const root = document.createElement("div");
  root.className = "ipyagent-voice";
  root.innerHTML = `
    <button class="mic" title="Start / stop the microphone">${MIC_SVG}</button>
    <div class="level" title="input level"><div></div></div>
    <div class="text"><div class="transcript"></div><div class="status"></div></div>
    <span class="speaker" title="speaker">${SPEAKER_SVG}</span>`;
  el.append(style, root);
  const micButton = root.querySelector(".mic");
  const levelBar = root.querySelector(".level > div");
  const transcriptEl = root.querySelector(".transcript");
  const statusEl = root.querySelector(".status");
  const speakerEl = root.querySelector(".speaker");

  let ctx = null;
  let stream = null;
  let source = null;
  let tap = null;
  let micOn = false;
  let trouble = ""; // why the microphone did not start, shown as the headline until it does
  let pending = [];
  let micSeq = 0;
  let down = null;
  // Playback: chunks scheduled back to back; each {id, node, start, duration, samples, reported}.
  let queue = [];
  let playHead = 0;
  const stats = { played: 0, stopped: 0, framesSent: 0, lastPlayAt: 0, lastStopAt: 0 };
  root.dataset.played = "0";
  root.dataset.stopped = "0";

  async function audioContext() {
    if (!ctx) {
      ctx = new AudioContext({ latencyHint: "interactive" });
      const url = URL.createObjectURL(new Blob([WORKLET], { type: "application/javascript" }));
      await ctx.audioWorklet.addModule(url);
      URL.revokeObjectURL(url);
    }
    if (ctx.state !== "running") await ctx.resume();
    return ctx;
  }

  function showState() {
    const phase = model.get("phase");
    const state = model.get("agent_state");
    transcriptEl.textContent = trouble || model.get("transcript") || (micOn ? "listening…" : "click the mic to talk");
    transcriptEl.classList.toggle("trouble", Boolean(trouble));
    const parts = [`agent ${state}`];
    if (micOn) parts.push(phase);
    if (model.get("status")) parts.push(model.get("status"));
    statusEl.textContent = parts.join(" · ");
    micButton.classList.toggle("on", micOn);
    root.dataset.phase = phase;
    root.dataset.agentState = state;
  }

  function sendFrames(block) {
    let sum = 0;
    for (const s of block) sum += s * s;
    const rms = Math.sqrt(sum / block.length);
    levelBar.style.width = `${Math.min(100, Math.round(rms * 400))}%`;
    for (const s of down(block)) pending.push(s);
    while (pending.length >= FRAME_SAMPLES) {
      const frame = new Int16Array(FRAME_SAMPLES);
      for (let i = 0; i < FRAME_SAMPLES; i++) {
        const v = Math.max(-1, Math.min(1, pending[i]));
        frame[i] = v < 0 ? v * 0x8000 : v * 0x7fff;
      }
      pending = pending.slice(FRAME_SAMPLES);
      model.send({ type: "mic", rate: TARGET_RATE, seq: micSeq++ }, undefined, [frame.buffer]);
      stats.framesSent++;
    }
  }

  async function startMic() {
    if (!window.isSecureContext || !(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)) {
      throw { name: "InsecureContext" };
    }
    const ac = await audioContext(); // created on the click: browsers need a user gesture
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
    source = ac.createMediaStreamSource(stream);
    tap = new AudioWorkletNode(ac, "ipyagent-tap");
    down = downsampler(ac.sampleRate);
    pending = [];
    micSeq = 0; // the kernel drops a frame numbered at or below one it already heard
    tap.port.onmessage = (e) => sendFrames(e.data);
    source.connect(tap);
    micOn = true;
    model.send({ type: "mic_state", on: true });
  }

  function stopMic() {
    if (source) source.disconnect();
    if (tap) tap.port.onmessage = null;
    if (stream) for (const t of stream.getTracks()) t.stop();
    source = tap = stream = null;
    micOn = false;
    levelBar.style.width = "0%";
    model.send({ type: "mic_state", on: false });
  }

  micButton.addEventListener("click", async () => {
    try {
      if (micOn) stopMic();
      else await startMic();
      trouble = "";
    } catch (err) {
      trouble = micTrouble(err);
      model.send({ type: "error", text: `microphone: ${trouble}` });
    }
    showState();
  });

  // What has reached the speaker, not just the audio graph: never claim a word not yet audible.
  function heardTime() {
    return ctx.currentTime - (ctx.outputLatency || 0) - (ctx.baseLatency || 0);
  }

  function report(item, done) {
    const played = done
      ? item.samples
      : Math.max(0, Math.min(item.samples, Math.floor((heardTime() - item.start) * item.rate)));
    if (done || played > item.reported) {
      item.reported = played;
      model.send({ type: "playback", chunk: item.id, played, done });
    }
  }

  async function play(msg, buffer) {
    const ac = await audioContext();
    const view = buffer instanceof DataView ? buffer : new DataView(buffer.buffer || buffer);
    const n = view.byteLength / 2;
    const audio = ac.createBuffer(1, Math.max(1, n), msg.rate);
    const data = audio.getChannelData(0);
    for (let i = 0; i < n; i++) data[i] = view.getInt16(2 * i, true) / 32768;
    const node = ac.createBufferSource();
    node.buffer = audio;
    node.connect(ac.destination);
    const start = Math.max(ac.currentTime + 0.01, playHead);
    playHead = start + audio.duration;
    const item = { id: msg.chunk, node, start, rate: msg.rate, samples: n, reported: 0, text: msg.text };
    node.onended = () => {
      if (!queue.includes(item)) return; // stopped: already reported
      queue = queue.filter((q) => q !== item);
      report(item, true);
      stats.played++;
      root.dataset.played = String(stats.played);
      speakerEl.classList.toggle("playing", queue.length > 0);
    };
    queue.push(item);
    node.start(start);
    stats.lastPlayAt = performance.now();
    speakerEl.classList.add("playing");
    speakerEl.title = msg.text;
  }

  function stopPlayback() {
    const items = queue;
    queue = [];
    for (const item of items) {
      report(item, false);
      try {
        item.node.stop();
      } catch (_) {
        /* not started yet */
      }
    }
    playHead = 0;
    stats.stopped++;
    stats.lastStopAt = performance.now();
    root.dataset.stopped = String(stats.stopped);
    speakerEl.classList.remove("playing");
    model.send({ type: "stopped", chunks: items.length });
  }

  const timer = setInterval(() => {
    if (ctx) for (const item of queue) if (heardTime() > item.start) report(item, false);
  }, REPORT_MS);

  function onCustom(msg, buffers) {
    if (msg.type === "play" && buffers && buffers.length === 1) play(msg, buffers[0]);
    else if (msg.type === "stop") stopPlayback();
  }

  model.on("msg:custom", onCustom);
  for (const name of ["phase", "transcript", "status", "agent_state"]) model.on(`change:${name}`, showState);
  showState();
  model.send({ type: "ready" });
  root.__ipyagentVoice = stats;

  return () => {
    clearInterval(timer);
    model.off("msg:custom", onCustom);
    if (micOn) stopMic();
    stopPlayback();
    if (ctx) ctx.close();
  };
}

export default { render };
