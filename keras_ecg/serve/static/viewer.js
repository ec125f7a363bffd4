// keras-ecg viewer: plain JavaScript, no build step, nothing fetched but this service's own API.
//
// A recording goes to POST /v1/annotate; its strip chart is drawn here in SVG on ECG paper (25 mm/s, 10 mm/mV)
// from GET /v1/results/ID/signal, ten seconds at a time. Every beat's label is an SVG <text class="beat-label">
// with data-sample, data-label and data-uncertain; the overview under it has one <rect class="beat-tick"> per
// beat of the record (the same attributes), so a test (or a reader) can compare them with the API's answer.
// A page goes to POST /v1/predict and POST /v1/explain. "Play demo stream" replays GET /v1/demo/record through
// the WebSocket /v1/stream at ten times real speed and draws the beats as the service decides them.
"use strict";

const PX_PER_MM = 4;            // screen pixels per millimetre of ECG paper
const MM_PER_S = 25, MM_PER_MV = 10;
const WINDOW_S = 10;            // seconds of strip drawn at once
const STRIP_MV = 5;             // millivolts of paper height
const LABEL_BAND = 22;          // pixels above the paper for the beat labels
const DEMO_SPEED = 10;          // demo stream: times real speed
const COLOURS = {N: "#1b7a3e", S: "#d05a00", V: "#c8102e", F: "#6a3fb5", Q: "#5b5b5b"};
const EPISODE_COLOURS = {AF: "#7b3fb5", AFL: "#a05fd0", PAUSE: "#2b6cb0", BRADY: "#2b8cb0", TACHY: "#d08a00"};
const SVGNS = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);
const state = {view: null};     // {kind: "record"|"live", fs, beats, episodes, start, duration, samples?, id?}

function colour(label) {
  if (COLOURS[label]) return COLOURS[label];
  let h = 0;
  for (const c of String(label)) h = (h * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${h} 60% 40%)`;
}

function episodeColour(kind) { return EPISODE_COLOURS[kind] || "#888"; }

function headers() {
  const t = $("token").value.trim();
  if (t) sessionStorage.setItem("keras-ecg-token", t);
  return t ? {Authorization: `Bearer ${t}`} : {};
}

function status(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

async function api(path, options = {}) {
  const r = await fetch(path, {...options, headers: {...headers(), ...(options.headers || {})}});
  if (!r.ok) {
    let detail = `${r.status} ${r.statusText}`;
    try { detail = (await r.json()).detail || detail; } catch (e) { /* not JSON */ }
    throw new Error(`${path.split("?")[0]}: ${detail}`);
  }
  return r;
}

function el(name, attrs = {}, parent = null, text = null) {
  const e = document.createElementNS(SVGNS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== null) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

// ---------------------------------------------------------------------------------------------- the strip

function paper(svg, width, height) {
  const defs = el("defs", {}, svg);
  const mm = PX_PER_MM, big = 5 * PX_PER_MM;
  const small = el("pattern", {id: "mm", width: mm, height: mm, patternUnits: "userSpaceOnUse"}, defs);
  el("path", {d: `M ${mm} 0 L 0 0 0 ${mm}`, fill: "none", stroke: "#f6c3cc", "stroke-width": 0.5}, small);
  const major = el("pattern", {id: "mm5", width: big, height: big, patternUnits: "userSpaceOnUse"}, defs);
  el("rect", {width: big, height: big, fill: "url(#mm)"}, major);
  el("path", {d: `M ${big} 0 L 0 0 0 ${big}`, fill: "none", stroke: "#e8899a", "stroke-width": 1}, major);
  el("rect", {x: 0, y: LABEL_BAND, width, height: height - LABEL_BAND, fill: "#fff6f7"}, svg);
  el("rect", {x: 0, y: LABEL_BAND, width, height: height - LABEL_BAND, fill: "url(#mm5)", class: "paper"}, svg);
}

// samples: numbers (mV) from sample `first`; beats: [{sample, label, uncertain}]; episodes: [{kind, start_s, end_s}]
function drawStrip(v, first, samples) {
  const svg = $("strip");
  svg.replaceChildren();
  const width = WINDOW_S * MM_PER_S * PX_PER_MM, paperH = STRIP_MV * MM_PER_MV * PX_PER_MM;
  const height = paperH + LABEL_BAND;
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  paper(svg, width, height);
  const t0 = v.start, t1 = v.start + WINDOW_S;
  const x = (t) => (t - t0) * MM_PER_S * PX_PER_MM;
  for (const e of v.episodes) {
    if (e.end_s <= t0 || e.start_s >= t1) continue;
    const a = Math.max(e.start_s, t0), b = Math.min(e.end_s, t1);
    el("rect", {class: "episode", "data-kind": e.kind, x: x(a), y: LABEL_BAND, width: Math.max(x(b) - x(a), 1),
                height: paperH, fill: episodeColour(e.kind)}, svg);
    el("text", {class: "episode-label", x: x(a) + 3, y: height - 4}, svg, e.kind);
  }
  if (samples.length) {
    const mid = LABEL_BAND + paperH * 0.55;
    const pts = [];
    const step = Math.max(1, Math.floor(samples.length / (width * 2)));
    for (let i = 0; i < samples.length; i += step) {
      const y = mid - samples[i] * MM_PER_MV * PX_PER_MM;
      pts.push(`${x((first + i) / v.fs).toFixed(1)},${Math.min(Math.max(y, LABEL_BAND), height).toFixed(1)}`);
    }
    el("polyline", {class: "trace", points: pts.join(" ")}, svg);
  }
  for (const b of v.beats) {
    const t = b.sample / v.fs;
    if (t < t0 || t >= t1) continue;
    const c = colour(b.label);
    el("line", {x1: x(t), x2: x(t), y1: LABEL_BAND, y2: LABEL_BAND + 6, stroke: c, "stroke-width": 1.5}, svg);
    const text = el("text", {class: "beat-label" + (b.uncertain ? " uncertain" : ""), x: x(t), y: LABEL_BAND - 6,
                             fill: c, "data-sample": b.sample, "data-label": b.label,
                             "data-uncertain": b.uncertain ? "1" : "0"}, svg, b.label + (b.uncertain ? "?" : ""));
    el("title", {}, text, `${t.toFixed(2)} s: ${b.label}${b.uncertain ? " (uncertain)" : ""}`);
    if (b.uncertain) el("circle", {class: "uncertain-mark", cx: x(t), cy: LABEL_BAND - 10, r: 9, stroke: c}, svg);
  }
  $("window-label").textContent = `${fmtTime(t0)} – ${fmtTime(t1)} of ${fmtTime(v.duration)}`;
}

function drawOverview(v) {
  const svg = $("overview");
  svg.replaceChildren();
  const width = WINDOW_S * MM_PER_S * PX_PER_MM, height = 30;
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  const dur = Math.max(v.duration, 1e-6);
  const x = (t) => (t / dur) * width;
  el("rect", {x: 0, y: 0, width, height, fill: "#fafafa", stroke: "#ddd"}, svg);
  for (const e of v.episodes) {
    el("rect", {class: "episode", "data-kind": e.kind, x: x(e.start_s), y: 0,
                width: Math.max(x(e.end_s) - x(e.start_s), 1), height, fill: episodeColour(e.kind)}, svg);
  }
  for (const b of v.beats) {
    const t = b.sample / v.fs;
    const ectopic = b.label !== "N";
    el("rect", {class: "beat-tick", "data-sample": b.sample, "data-label": b.label,
                "data-uncertain": b.uncertain ? "1" : "0", x: x(t), y: ectopic ? 2 : 14,
                width: 1, height: ectopic ? 26 : 14, fill: colour(b.label)}, svg);
  }
  el("rect", {class: "window", x: x(v.start), y: 0, width: Math.max(x(v.start + WINDOW_S) - x(v.start), 2), height,
              fill: "none", stroke: "#333", "stroke-width": 1.5}, svg);
}

function fmtTime(s) {
  const m = Math.floor(s / 60), r = s - 60 * m;
  return `${m}:${r.toFixed(1).padStart(4, "0")}`;
}

async function show(start) {
  const v = state.view;
  if (!v) return;
  v.start = Math.max(0, Math.min(start, Math.max(v.duration - WINDOW_S, 0)));
  if (v.kind === "record") {
    const want = v.start;
    const r = await api(`${v.signal}?start=${want}&end=${want + WINDOW_S}`);
    const s = await r.json();
    if (state.view !== v || v.start !== want) return;  // a newer window was asked for meanwhile
    drawStrip(v, s.start, s.samples);
  } else {
    const i0 = Math.floor(v.start * v.fs);
    drawStrip(v, i0, v.samples.subarray(i0, Math.min(v.received, i0 + Math.ceil(WINDOW_S * v.fs))));
  }
  drawOverview(v);
  $("strip").dataset.ready = "1";
}

function legend(classNames) {
  const box = $("legend");
  box.replaceChildren();
  for (const c of classNames) {
    const s = document.createElement("span");
    s.style.setProperty("--c", colour(c));
    s.textContent = c;
    box.appendChild(s);
  }
  const u = document.createElement("span");
  u.style.setProperty("--c", "transparent");
  u.textContent = "label? / dashed circle: uncertain";
  box.appendChild(u);
}

function table(id, rows) {
  const t = $(id);
  t.replaceChildren();
  for (const [k, v] of rows) {
    const tr = t.insertRow();
    const th = document.createElement("th");
    th.textContent = k;
    tr.appendChild(th);
    tr.insertCell().textContent = v;
  }
}

function summaryRows(s) {
  const rows = [];
  const fmt = (v) => (v && typeof v === "object") ? Object.entries(v).map(([k, x]) => `${k} ${fmtVal(x)}`).join(", ")
                                                  : fmtVal(v);
  for (const k of ["record", "lead", "fs", "duration_s", "beats", "beats_per_class", "heart_rate", "af_burden_pct",
                   "ectopic_beats", "ectopic_per_hour", "run_counts", "uncertain_beats", "longest_pause_s"]) {
    if (k in s && s[k] !== null) rows.push([k.replaceAll("_", " "), fmt(s[k])]);
  }
  return rows;
}

function fmtVal(v) {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(2);
  if (v && typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function episodeRows(episodes) {
  return episodes.map((e) => [e.kind, `${fmtTime(e.start_s)} – ${fmtTime(e.end_s)} (${e.duration_s} s)` +
                                       (e.mean_bpm ? `, ${Math.round(e.mean_bpm)} bpm` : "")]);
}

function downloads(files) {
  const ul = $("downloads");
  ul.replaceChildren();
  for (const [kind, url] of Object.entries(files)) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = url;
    a.textContent = `${kind.replaceAll("_", " ")}: ${url.split("/").pop()}`;
    a.addEventListener("click", async (ev) => {  // with a token, a plain link cannot send it: fetch, then save
      if (!$("token").value.trim()) return;
      ev.preventDefault();
      const blob = await (await api(url)).blob();
      const tmp = document.createElement("a");
      tmp.href = URL.createObjectURL(blob);
      tmp.download = url.split("/").pop();
      tmp.click();
      URL.revokeObjectURL(tmp.href);
    });
    li.appendChild(a);
    ul.appendChild(li);
  }
}

// ---------------------------------------------------------------------------------------------- uploads

function isPage(files) {
  return [...files].some((f) => /\.(png|jpe?g)$/i.test(f.name) || /^image\//.test(f.type));
}

async function analyse(ev) {
  ev.preventDefault();
  const files = $("files").files;
  if (!files.length) { status("Choose a recording (.hea + .dat, .edf, .csv) or a page image first.", true); return; }
  const model = $("model").value;
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  if ($("fs").value) form.append("fs", $("fs").value);
  $("strip").dataset.ready = "";
  try {
    if (isPage(files)) await analysePage(form, files[0], model);
    else await analyseRecording(form, model);
  } catch (e) {
    status(e.message, true);
  }
}

async function analyseRecording(form, model) {
  status("Annotating the recording ...");
  const r = await (await api(`/v1/annotate?model=${encodeURIComponent(model)}`, {method: "POST", body: form})).json();
  state.view = {kind: "record", fs: r.fs, beats: r.beats, episodes: r.episodes, start: 0,
                duration: r.duration_s, signal: r.signal, id: r.id};
  $("page-view").hidden = true;
  $("record-view").hidden = false;
  $("record-title").textContent = `${r.input}: ${r.beats.length} beats on lead ${r.lead} at ${r.fs} Hz ` +
                                  `(${fmtTime(r.duration_s)}), model ${r.model}`;
  legend(r.class_names);
  table("summary", summaryRows(r.summary));
  table("episodes", r.episodes.length ? episodeRows(r.episodes) : [["none", ""]]);
  downloads(r.files);
  const first = r.beats.find((b) => b.label !== "N");  // start where something happens, if anything does
  await show(first ? Math.floor(first.sample / r.fs / WINDOW_S) * WINDOW_S : 0);
  status(`Done: ${r.beats.length} beats, ${r.episodes.length} rhythm episodes; files kept ${Math.round(r.expires_in_s / 60)} min.`);
}

async function blobUrl(url) {
  return URL.createObjectURL(await (await api(url)).blob());
}

async function analysePage(form, file, model) {
  status("Classifying the page ...");
  const q = `?model=${encodeURIComponent(model)}`;
  const pred = await (await api(`/v1/predict${q}`, {method: "POST", body: form})).json();
  const ex = await (await api(`/v1/explain${q}`, {method: "POST", body: form})).json();
  const p = pred.results[0];
  $("record-view").hidden = true;
  $("page-view").hidden = false;
  $("page-title").textContent = `${file.name}: ${p.class}${p.uncertain ? " (uncertain)" : ""}, model ${pred.model}`;
  const rows = [["class", p.class + (p.uncertain ? " (uncertain)" : "")]];
  if ("risk" in p) rows.push(["risk", p.risk.toFixed(3)]);
  for (const [k, v] of Object.entries(p.probabilities || {})) rows.push([`p(${k})`, v.toFixed(3)]);
  for (const e of p.evidence || []) rows.push(["evidence", e]);
  rows.push(["attribution", ex.items[0] ? ex.items[0].method : ""]);
  table("page-prediction", rows);
  $("page-image").src = URL.createObjectURL(file);
  $("explain-image").src = await blobUrl(ex.attributions[0].picture);
  $("explain-image").dataset.ready = "1";
  status("Done.");
}

// ---------------------------------------------------------------------------------------------- the demo stream

async function playDemo() {
  const model = $("model").value;
  status("Fetching the synthetic demo record ...");
  let rec;
  try { rec = await (await api("/v1/demo/record")).json(); } catch (e) { status(e.message, true); return; }
  const fs = rec.fs, samples = Float32Array.from(rec.samples);
  const v = {kind: "live", fs, beats: [], episodes: [], start: 0, duration: samples.length / fs, samples, received: 0};
  state.view = v;
  $("page-view").hidden = true;
  $("record-view").hidden = false;
  $("record-title").textContent = `Demo stream: synthetic record (not real ECG), ${DEMO_SPEED}x real speed, model ${model}`;
  legend(Object.keys(COLOURS));
  table("summary", []);
  table("episodes", []);
  downloads({});
  const strip = $("strip");
  strip.dataset.streamState = "opening";  // opening, streaming, ended (the end message came) or failed
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const token = $("token").value.trim();
  const ws = new WebSocket(`${proto}://${location.host}/v1/stream?model=${encodeURIComponent(model)}` +
                           (token ? `&token=${encodeURIComponent(token)}` : ""));
  ws.binaryType = "arraybuffer";
  let timer = null, rhythm = null;
  const chunk = Math.round(fs * 0.1 * DEMO_SPEED);  // every 100 ms, 0.1 s x speed of signal
  ws.onopen = () => ws.send(JSON.stringify({fs, leads: rec.leads}));
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "ready") {
      strip.dataset.streamState = "streaming";
      status("Streaming ...");
      timer = setInterval(() => {
        if (v.received >= samples.length) {
          clearInterval(timer);
          ws.send(JSON.stringify({end: true}));
          return;
        }
        const part = samples.subarray(v.received, Math.min(v.received + chunk, samples.length));
        const buf = new ArrayBuffer(part.length * 4);
        const dv = new DataView(buf);
        part.forEach((x, i) => dv.setFloat32(4 * i, x, true));  // little-endian float32, one lead
        ws.send(buf);
        v.received += part.length;
        if (state.view === v) show(Math.max(0, v.received / fs - WINDOW_S));
      }, 100);
    } else if (msg.type === "beat") {
      v.beats.push({sample: msg.sample, label: msg.label, uncertain: msg.uncertain});
    } else if (msg.type === "rhythm") {  // labels as in annotate's WFDB files: "(N", "(AFIB", ...
      const kind = String(msg.label).replace(/^\(/, "");
      if (rhythm) rhythm.end_s = msg.time;
      rhythm = {kind, start_s: msg.time, end_s: v.duration};
      if (!/^(N|NSR|SINUS)$/i.test(kind)) v.episodes.push(rhythm);
    } else if (msg.type === "unreadable") {  // annotate does not classify the beats of a rejected segment
      v.beats = v.beats.filter((b) => b.sample < msg.start || b.sample >= msg.end);
      v.episodes.push({kind: `unreadable (${msg.reason})`, start_s: msg.start / fs, end_s: msg.end / fs});
    } else if (msg.type === "error") {
      strip.dataset.streamState = "failed";
      status(`stream: ${msg.error}`, true);
    } else if (msg.type === "end") {
      strip.dataset.streamState = "ended";
      table("summary", summaryRows(msg.summary || {}));
      table("episodes", v.episodes.length ? episodeRows(v.episodes.map((e) => ({...e,
        duration_s: (e.end_s - e.start_s).toFixed(1)}))) : [["none", ""]]);
      status(`Demo done: ${msg.beats} beats streamed.`);
      show(v.start);
      ws.close();
    }
  };
  ws.onerror = () => {
    if (strip.dataset.streamState === "ended") return;
    strip.dataset.streamState = "failed";
    status("the stream could not be opened (does this service serve /v1/stream?)", true);
  };
  ws.onclose = (ev) => {
    if (timer) clearInterval(timer);
    if (strip.dataset.streamState === "ended" || strip.dataset.streamState === "failed") return;
    strip.dataset.streamState = "failed";  // closed before its end message
    status(`the stream closed before its end (${ev.code}${ev.reason ? ": " + ev.reason : ""})`, true);
  };
}

// ---------------------------------------------------------------------------------------------- start

async function loadModels() {
  try {
    const r = await (await api("/v1/models")).json();
    const sel = $("model");
    sel.replaceChildren();
    for (const m of r.models) {
      const o = document.createElement("option");
      o.value = m.name;
      o.textContent = `${m.name} (${m.input_kind})`;
      sel.appendChild(o);
    }
    status("Choose a recording or a page.");
  } catch (e) {
    status(`${e.message} (give the token if the service wants one)`, true);
  }
}

$("token").value = sessionStorage.getItem("keras-ecg-token") || "";
$("token").addEventListener("change", loadModels);
$("upload").addEventListener("submit", analyse);
$("demo").addEventListener("click", playDemo);
$("prev").addEventListener("click", () => show((state.view ? state.view.start : 0) - WINDOW_S));
$("next").addEventListener("click", () => show((state.view ? state.view.start : 0) + WINDOW_S));
$("overview").addEventListener("click", (ev) => {
  const v = state.view;
  if (!v) return;
  const box = $("overview").getBoundingClientRect();
  show(((ev.clientX - box.left) / box.width) * v.duration - WINDOW_S / 2);
});
loadModels();
