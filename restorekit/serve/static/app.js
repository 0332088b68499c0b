// restorekit page: pick an image, queue a restore job, poll its progress, compare, download.
// Plain JavaScript, no build step; talks only to this server's /api endpoints.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { file: null, models: {}, config: null, painted: false, sourceUrl: null, poll: null };

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.classList.remove("hidden");
}

function clearError() {
  $("error").textContent = "";
  $("error").classList.add("hidden");
}

async function detailOf(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
    return JSON.stringify(body.detail);
  } catch (e) {
    return `the server answered ${response.status} ${response.statusText}`;
  }
}

function formatBytes(n) {
  return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.round(n / 1024)} KB`;
}

async function loadServerInfo() {
  try {
    const [config, models] = await Promise.all([
      fetch("/api/config").then((r) => r.json()),
      fetch("/api/models").then((r) => r.json()),
    ]);
    state.config = config;
    state.models = models.models;
    $("limits").textContent = `${config.allowed_formats.join(", ")}; up to ` +
      `${formatBytes(config.max_upload_bytes)} and ${(config.max_pixels / 1e6).toFixed(1)} ` +
      `megapixels.`;
    fillModels();
  } catch (e) {
    showError(`cannot reach the server: ${e}`);
  }
}

function fillModels() {
  const task = $("task").value;
  const select = $("model");
  const names = state.models[task] || ["auto"];
  const previous = select.value;
  select.replaceChildren(...names.map((name) => new Option(name, name)));
  if (names.includes(previous)) select.value = previous;
}

function onTaskChange() {
  const task = $("task").value;
  fillModels();
  $("scale-row").classList.toggle("hidden", task !== "sr");
  $("sigma-row").classList.toggle("hidden", task !== "denoise");
  $("mask-row").classList.toggle("hidden", task !== "inpaint");
  $("mask-canvas").classList.toggle("hidden", task !== "inpaint");
  if (task === "inpaint" && $("source").naturalWidth) {  // paint on the image, not the result
    $("result").classList.add("hidden");
    $("editor").classList.remove("hidden");
  }
}

function chooseFile(file) {
  if (!file) return;
  clearError();
  state.file = file;
  $("drop-text").textContent = `${file.name} (${formatBytes(file.size)})`;
  $("restore").disabled = false;
  $("result").classList.add("hidden");
  if (state.sourceUrl) URL.revokeObjectURL(state.sourceUrl);
  state.sourceUrl = URL.createObjectURL(file);
  const img = $("source");
  img.onload = () => {
    $("editor").classList.remove("hidden");
    resetMask(img.naturalWidth, img.naturalHeight);
  };
  img.onerror = () => $("editor").classList.add("hidden");  // e.g. TIFF: shown after restoring
  img.src = state.sourceUrl;
}

// ---- mask painting (inpainting) ------------------------------------------------------------

function resetMask(width, height) {
  const canvas = $("mask-canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").clearRect(0, 0, width, height);
  state.painted = false;
}

function setupPainting() {
  const canvas = $("mask-canvas");
  const ctx = canvas.getContext("2d");
  let drawing = false;
  let last = null;
  const point = (event) => {
    const rect = canvas.getBoundingClientRect();
    return [(event.clientX - rect.left) * canvas.width / rect.width,
            (event.clientY - rect.top) * canvas.height / rect.height];
  };
  const paint = (event) => {
    const [x, y] = point(event);
    const rect = canvas.getBoundingClientRect();
    ctx.strokeStyle = ctx.fillStyle = "#ffffff";
    ctx.lineCap = "round";
    ctx.lineWidth = Number($("brush").value) * canvas.width / rect.width;
    ctx.beginPath();
    if (last) {
      ctx.moveTo(last[0], last[1]);
      ctx.lineTo(x, y);
      ctx.stroke();
    } else {
      ctx.arc(x, y, ctx.lineWidth / 2, 0, 2 * Math.PI);
      ctx.fill();
    }
    last = [x, y];
    state.painted = true;
  };
  canvas.addEventListener("pointerdown", (e) => {
    drawing = true;
    last = null;
    canvas.setPointerCapture(e.pointerId);
    paint(e);
  });
  canvas.addEventListener("pointermove", (e) => { if (drawing) paint(e); });
  const stop = () => { drawing = false; last = null; };
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);
  $("clear-mask").addEventListener("click", () => resetMask(canvas.width, canvas.height));
}

// The painted strokes as a black/white PNG at the image's own size (white = missing).
function paintedMaskBlob() {
  const canvas = $("mask-canvas");
  const out = document.createElement("canvas");
  out.width = canvas.width;
  out.height = canvas.height;
  const src = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const octx = out.getContext("2d");
  const img = octx.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < src.length; i += 4) {
    const v = src[i + 3] > 0 ? 255 : 0;
    img.data[i] = img.data[i + 1] = img.data[i + 2] = v;
    img.data[i + 3] = 255;
  }
  octx.putImageData(img, 0, 0);
  return new Promise((resolve) => out.toBlob(resolve, "image/png"));
}

// ---- restoring -----------------------------------------------------------------------------

async function buildForm() {
  const form = new FormData();
  const task = $("task").value;
  form.append("file", state.file, state.file.name);
  form.append("task", task);
  form.append("model", $("model").value);
  if (task === "sr") form.append("scale", $("scale").value);
  const sigma = $("sigma").value.trim();
  if (sigma && task === "denoise") form.append("sigma", sigma);
  if (task === "inpaint") {
    const uploaded = $("mask-file").files[0];
    if (uploaded) form.append("mask", uploaded, uploaded.name);
    else if (state.painted) form.append("mask", await paintedMaskBlob(), "painted-mask.png");
  }
  return form;
}

function setBusy(busy) {
  $("restore").disabled = busy || !state.file;
  $("progress-row").classList.toggle("hidden", !busy);
}

async function startRestore() {
  if (!state.file) return;
  clearError();
  $("result").classList.add("hidden");
  setBusy(true);
  $("progress").value = 0;
  $("status").textContent = "uploading…";
  let response;
  try {
    response = await fetch("/api/jobs", { method: "POST", body: await buildForm() });
  } catch (e) {
    setBusy(false);
    showError(`upload failed: ${e}`);
    return;
  }
  if (!response.ok) {
    setBusy(false);
    showError(await detailOf(response));
    return;
  }
  const job = await response.json();
  pollJob(job.id);
}

async function pollJob(id) {
  let status;
  try {
    const response = await fetch(`/api/jobs/${encodeURIComponent(id)}`);
    if (!response.ok) throw new Error(await detailOf(response));
    status = await response.json();
  } catch (e) {
    setBusy(false);
    showError(`${e.message || e}`);
    return;
  }
  if (status.state === "done") {
    setBusy(false);
    showResult(status);
    return;
  }
  if (status.state === "error") {
    setBusy(false);
    showError(status.error);
    return;
  }
  const progress = $("progress");
  if (status.state === "queued") {
    progress.removeAttribute("value");  // indeterminate while waiting
    $("status").textContent = `waiting in the queue (position ${status.queue_position})`;
  } else {
    progress.value = status.progress;
    $("status").textContent = `${status.stage}… ${Math.round(status.progress * 100)}% ` +
      `(${status.elapsed.toFixed(1)} s)`;
  }
  state.poll = setTimeout(() => pollJob(id), 300);
}

function showResult(status) {
  const info = status.info;
  $("info-method").textContent = info.method;
  $("noise").textContent = info.noise_sigma == null ? "n/a" : info.noise_sigma.toFixed(2);
  $("jpeg-quality").textContent = info.jpeg_quality == null ? "n/a (not a JPEG)"
    : `${info.jpeg_quality_exact ? "" : "~"}${info.jpeg_quality}`;
  $("info-sigma").textContent = info.sigma == null ? "not used"
    : `${info.sigma.toFixed(2)}${info.sigma_estimated ? " (estimated)" : ""}`;
  $("info-time").textContent = `${info.seconds.toFixed(2)} s`;
  $("info-output").textContent = `${info.width}×${info.height}, ${info.format}, ` +
    `${info.bit_depth}-bit`;
  $("info-note").textContent = info.note || "";
  document.querySelectorAll(".note").forEach((el) => el.classList.toggle("hidden", !info.note));
  $("before").src = status.preview_urls.input;
  $("after").src = status.preview_urls.output;
  const link = $("download");
  link.href = status.result_url;
  link.setAttribute("download", status.download_name);
  $("result").classList.remove("hidden");
  $("editor").classList.add("hidden");
  $("status").textContent = "done";
  applyZoom();
}

// ---- before/after comparison ---------------------------------------------------------------

function applySlider() {
  const v = Number($("slider").value);
  $("after").style.clipPath = `inset(0 0 0 ${v}%)`;
  $("divider").style.left = `${v}%`;
}

function applyZoom() {
  const z = Number($("zoom").value);
  $("compare-inner").style.width = `${100 * z}%`;
  $("compare").classList.toggle("pixelated", z > 1);
  $("zoom-value").textContent = `${z}×`;
}

function setupDrop() {
  const drop = $("drop");
  ["dragenter", "dragover"].forEach((type) => drop.addEventListener(type, (e) => {
    e.preventDefault();
    drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((type) => drop.addEventListener(type, (e) => {
    e.preventDefault();
    drop.classList.remove("over");
  }));
  drop.addEventListener("drop", (e) => chooseFile(e.dataTransfer.files[0]));
  $("file").addEventListener("change", (e) => chooseFile(e.target.files[0]));
}

document.addEventListener("DOMContentLoaded", () => {
  setupDrop();
  setupPainting();
  $("task").addEventListener("change", onTaskChange);
  $("restore").addEventListener("click", startRestore);
  $("slider").addEventListener("input", applySlider);
  $("zoom").addEventListener("input", applyZoom);
  onTaskChange();
  applySlider();
  loadServerInfo();
});
