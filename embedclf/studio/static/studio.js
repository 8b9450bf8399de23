// The studio page: plain JavaScript over the JSON API (see embedclf/studio/app.py).
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const BACKGROUND = "_background_";
const BACKGROUND_SECONDS = 20;
let project = null;
let live = null;

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const c of children) e.append(c);
  return e;
};
const withToken = (url) => url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN);

function status(text, error = false) {
  const s = $("#status");
  s.textContent = text;
  s.className = error ? "error" : "";
}

async function api(method, url, body, type) {
  const headers = { "X-Studio-Token": TOKEN };
  if (body !== undefined && !(body instanceof Blob) && !(body instanceof ArrayBuffer)) {
    body = JSON.stringify(body); headers["Content-Type"] = "application/json";
  } else if (type) headers["Content-Type"] = type;
  const r = await fetch(url, { method, headers, body });
  const data = await r.json();
  if (!r.ok) { status(data.error || r.statusText, true); throw new Error(data.error); }
  return data;
}

async function refresh(data) {
  project = data || (await api("GET", "/api/project"));
  render();
}

function render() {
  $("#project-name").textContent = project.name + " — " + project.root;
  $("#clip-seconds").textContent = project.clip_seconds;
  const pick = $("#pipeline");
  if (!pick.options.length) {
    for (const name of project.pipelines) pick.append(el("option", { value: name, textContent: name }));
    pick.value = project.results ? project.results.pipeline : project.pipeline;
  }
  const box = $("#classes");
  box.replaceChildren();
  for (const cls of project.classes) box.append(classCard(cls));
  if (project.results) showResults(project.results);
  $("#export-model").href = withToken("/api/export/model");
  $("#export-predictions").href = withToken("/api/export/predictions.csv");
}

function classCard(cls) {
  const card = el("div", { className: "class-card" });
  card.dataset.class = cls.name;
  const isBg = cls.name === BACKGROUND;
  const seconds = isBg ? BACKGROUND_SECONDS : project.clip_seconds;
  const rec = el("button", { className: "record-btn", textContent: isBg ? `Record ${seconds} s of background` : `Record ${seconds} s take` });
  rec.onclick = () => recordTake(cls.name, seconds, rec, isBg);
  const upload = el("input", { type: "file", className: "upload-input", multiple: true, accept: "audio/*" });
  const cut = el("input", { type: "checkbox", className: "cut-input", checked: isBg });
  upload.onchange = () => uploadFiles(cls.name, upload.files, cut.checked);
  const rename = el("button", { className: "secondary", textContent: "Rename" });
  rename.onclick = async () => {
    const name = prompt("New name for " + cls.name, cls.name);
    if (name) refresh((await api("PATCH", "/api/classes/" + encodeURIComponent(cls.name), { name })).project);
  };
  const del = el("button", { className: "secondary", textContent: "Delete class" });
  del.onclick = async () => {
    if (confirm(`Delete ${cls.name} and its ${cls.clips.length} clips?`))
      refresh((await api("DELETE", "/api/classes/" + encodeURIComponent(cls.name))).project);
  };
  card.append(
    el("h3", { textContent: cls.name }),
    el("span", { className: "count", textContent: cls.clips.length + " clips" }),
    el("div", { className: "row" }, rec, el("label", {}, "upload ", upload),
      el("label", {}, cut, " cut into clips"), rename, del),
  );
  const clips = el("div", { className: "clips" });
  for (const id of cls.clips) clips.append(clipTile(id, cls.name));
  card.append(clips);
  return card;
}

function clipTile(id, label) {
  const tile = el("div", { className: "clip" });
  tile.dataset.id = id;
  const img = el("img", { src: withToken("/api/spectrogram?id=" + encodeURIComponent(id)), alt: "spectrogram of " + id, title: "play" });
  const audio = el("audio", { src: withToken("/api/clip?id=" + encodeURIComponent(id)), preload: "none" });
  img.onclick = () => audio.play();
  const move = el("select", { className: "relabel" });
  move.append(el("option", { value: "", textContent: "move to…" }));
  for (const c of project.classes) if (c.name !== label) move.append(el("option", { value: c.name, textContent: c.name }));
  move.onchange = async () => refresh((await api("POST", "/api/clip/relabel", { id, label: move.value })).project);
  const del = el("button", { className: "secondary delete-clip", textContent: "✕", title: "delete" });
  del.onclick = async () => refresh((await api("DELETE", "/api/clip?id=" + encodeURIComponent(id))).project);
  tile.append(img, audio, el("div", { className: "name", textContent: id.split("/").pop() }), el("div", { className: "row" }, move, del));
  return tile;
}

async function recordTake(label, seconds, button, cut) {
  button.disabled = true; button.classList.add("recording");
  status(`recording ${seconds} s…`);
  try {
    const { samples, sampleRate } = await Mic.record(seconds);
    const wav = encodeWav(samples, sampleRate);
    const url = `/api/clips?label=${encodeURIComponent(label)}&name=take.wav&cut=${cut ? 1 : 0}`;
    const data = await api("POST", url, wav, "audio/wav");
    status(`recorded ${data.ids.length} clip(s)`);
    await refresh(data.project);
  } catch (e) {
    status("recording failed: " + e.message, true);
  } finally {
    button.disabled = false; button.classList.remove("recording");
  }
}

async function uploadFiles(label, files, cut) {
  let n = 0;
  for (const f of files) {
    if (f.size > project.max_upload_bytes) { status(`${f.name} is over the upload limit`, true); continue; }
    const url = `/api/clips?label=${encodeURIComponent(label)}&name=${encodeURIComponent(f.name)}&cut=${cut ? 1 : 0}`;
    const data = await api("POST", url, f, "application/octet-stream");
    n += data.ids.length;
    project = data.project;
  }
  status(`added ${n} clip(s)`);
  render();
}

async function poll(job, bar, stage) {
  bar.hidden = false;
  for (;;) {
    job = await api("GET", "/api/jobs/" + job.id);
    bar.value = job.progress;
    stage.textContent = job.state === "failed" ? job.error : job.stage;
    if (job.state !== "running") return job;
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function train() {
  const btn = $("#train-btn");
  btn.disabled = true;
  status("training…");
  try {
    const job = await poll(await api("POST", "/api/train", { pipeline: $("#pipeline").value }), $("#train-progress"), $("#train-stage"));
    // "trained" only once the results are on the page
    if (job.state === "done") { await refresh(); status("trained"); }
    else status("training failed: " + job.error, true);
  } finally { btn.disabled = false; }
}

function showResults(r) {
  $("#results").hidden = false;
  const acc = $("#accuracy");
  acc.dataset.value = r.accuracy;
  acc.textContent = (100 * r.accuracy).toFixed(1) + "%";
  $("#accuracy-detail").textContent = `± ${(100 * r.accuracy_std).toFixed(1)} over ${r.n_splits} folds, ${r.n_clips} clips (${r.pipeline})`;
  const t = $("#confusion");
  t.replaceChildren();
  t.append(el("tr", {}, el("th", { textContent: "true \\ predicted" }), ...r.classes.map((c) => el("th", { textContent: c }))));
  r.confusion.forEach((row, i) => t.append(el("tr", {}, el("th", { textContent: r.classes[i] }),
    ...row.map((v, j) => el("td", { textContent: v, className: i === j ? "diag" : "" })))));
  const errs = $("#errors");
  errs.replaceChildren();
  for (const e of r.errors) {
    const li = el("li", { textContent: `${e.id} → ${e.predicted}`, title: "listen" });
    li.onclick = () => new Audio(withToken("/api/clip?id=" + encodeURIComponent(e.id))).play().catch(() => status("that clip was moved or deleted", true));
    errs.append(li);
  }
  if (!r.errors.length) errs.append(el("li", { textContent: "none" }));
  $("#curve").innerHTML = curveSvg(r.learning_curve);
}

function curveSvg(points) {
  if (!points.length) return "";
  const W = 260, H = 150, P = 28;
  const maxK = Math.max(...points.map((p) => p.per_class));
  const x = (k) => P + (W - 2 * P) * (maxK > 1 ? (k - 1) / (maxK - 1) : 0.5);
  const y = (a) => H - P - (H - 2 * P) * a;
  const path = points.map((p, i) => `${i ? "L" : "M"}${x(p.per_class).toFixed(1)},${y(p.accuracy).toFixed(1)}`).join(" ");
  const dots = points.map((p) => `<circle cx="${x(p.per_class)}" cy="${y(p.accuracy)}" r="3"><title>${p.per_class} per class: ${(100 * p.accuracy).toFixed(1)}%</title></circle>`).join("");
  return `<svg width="${W}" height="${H}" font-size="10">
    <line x1="${P}" y1="${y(0)}" x2="${W - P}" y2="${y(0)}" stroke="#999"/><line x1="${P}" y1="${y(0)}" x2="${P}" y2="${y(1)}" stroke="#999"/>
    <text x="2" y="${y(1) + 3}">100%</text><text x="8" y="${y(0) + 3}">0%</text>
    <text x="${W / 2 - 30}" y="${H - 6}">clips per class (max ${maxK})</text>
    <path d="${path}" fill="none" stroke="#2f6fdb" stroke-width="2"/>${dots}</svg>`;
}

function showBars(scores) {
  const box = $("#bars");
  for (const [label, value] of Object.entries(scores)) {
    let bar = box.querySelector(`.bar[data-class="${CSS.escape(label)}"]`);
    if (!bar) {
      bar = el("div", { className: "bar" }, el("span", { className: "label", textContent: label }),
        el("span", { className: "track" }, el("span", { className: "fill" })), el("span", { className: "value" }));
      bar.dataset.class = label;
      box.append(bar);
    }
    bar.querySelector(".fill").style.width = (100 * value).toFixed(1) + "%";
    bar.querySelector(".value").textContent = (100 * value).toFixed(0) + "%";
    bar.dataset.value = value;
  }
}

function showUpdate(update) {
  const last = update.windows[update.windows.length - 1];
  if (last) showBars(last.smoothed);
  for (const e of update.events)
    $("#events").append(el("li", { textContent: `${e.label} ${e.onset.toFixed(2)}–${e.offset.toFixed(2)} s (score ${e.score.toFixed(2)})` }));
}

async function toggleLive() {
  const btn = $("#live-btn");
  if (live) {
    const session = live;
    live = null;
    await session.mic.close();
    await session.queue;
    showUpdate(await api("POST", `/api/live/${session.id}/stop`));
    btn.textContent = "Start live preview";
    status("live preview stopped");
    return;
  }
  btn.disabled = true;
  try {
    const session = { queue: Promise.resolve() };
    session.mic = await Mic.open((block) => {
      // blocks go in order, one request at a time
      session.queue = session.queue.then(async () => {
        if (!session.id) return;
        showUpdate(await api("POST", `/api/live/${session.id}/push`, block.buffer, "application/octet-stream"));
      }).catch(() => {});
    });
    const started = await api("POST", "/api/live", { sr: session.mic.sampleRate });
    session.id = started.session;
    $("#events").replaceChildren();
    live = session;
    btn.textContent = "Stop live preview";
    status("listening…");
  } catch (e) {
    status("live preview failed: " + e.message, true);
  } finally { btn.disabled = false; }
}

async function predictFile(file) {
  const data = await api("POST", "/api/predict?name=" + encodeURIComponent(file.name), file, "application/octet-stream");
  $("#prediction").textContent = `${data.name}: ${data.label}`;
  showBars(data.probabilities);
}

async function distill() {
  const btn = $("#distill-btn");
  const num = (id) => $(id).value || null;
  btn.disabled = true;
  $("#distill-download").hidden = true;
  $("#distill-status").textContent = "distilling…";
  try {
    const body = { max_flash_kb: num("#max-flash"), max_ram_kb: num("#max-ram"), epochs: num("#epochs"), width: num("#width") };
    const job = await poll(await api("POST", "/api/export/distill", body), $("#distill-progress"), $("#distill-status"));
    if (job.state === "done") {
      const r = job.result;
      $("#distill-status").textContent = Object.entries(r).filter(([, v]) => typeof v === "number")
        .slice(0, 8).map(([k, v]) => `${k}: ${Number.isInteger(v) ? v : v.toFixed(3)}`).join(" · ") || "done";
      $("#distill-download").href = withToken("/api/export/distill.zip");
      $("#distill-download").hidden = false;
      status("distilled");
    } else {
      $("#distill-status").textContent = "failed: " + job.error;
      status("distillation failed", true);
    }
  } catch (e) {
    $("#distill-status").textContent = "failed: " + e.message;
  } finally { btn.disabled = false; }
}

function addClass(name) {
  return api("POST", "/api/classes", { name }).then((d) => refresh(d.project));
}

window.addEventListener("DOMContentLoaded", () => {
  $("#add-class").onclick = () => { const n = $("#new-class").value.trim(); if (n) addClass(n).then(() => ($("#new-class").value = "")); };
  $("#new-class").onkeydown = (e) => { if (e.key === "Enter") $("#add-class").click(); };
  $("#add-background").onclick = () => addClass(BACKGROUND);
  $("#train-btn").onclick = train;
  $("#live-btn").onclick = toggleLive;
  $("#distill-btn").onclick = distill;
  $("#predict-file").onchange = (e) => e.target.files[0] && predictFile(e.target.files[0]);
  const drop = $("#drop");
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files[0]) predictFile(e.dataTransfer.files[0]); };
  refresh().then(() => status("ready")).catch((e) => status(e.message, true));
});
