// PosteriorPad front end (vaecourse.widgets.posterior_pad.PosteriorPad, book/latent_space.md). The reader
// draws a digit or picks a test image; the page encodes it, puts the true posterior on a local grid around Q, and shows log p(x), the ELBO, IWAE_K, the gap and D[Q || p(h|x)].

import { asFloat32, asUint8, fromFloat16 } from "./buffers.js";
import {
  VaePlane, vaeDrawImage, vaeElement, vaeImageCanvas, vaeKeyHelp, vaeLegend, vaeLiveRegion, vaeSigned,
} from "./drawing.js";
import { PAD_KEYS, VaeDrawingPad, vaeMnistPreprocess } from "./drawing_pad.js";
import { decodeBatch, decodeInto, unpackDecoder } from "./mlp_decoder.js";
import { unpackEncoder, encodeQ } from "./mlp_encoder.js";
import { paintHeatmap } from "./palette.js";
import { VaePosteriorEngine } from "./posterior_engine.js";
import { vaeLogLikelihoodBatch, vaePosterior, vaePosteriorNumbers } from "./posterior_numerics.js";
import { referencedModel, vaeSave } from "./widget_model.js";

function vaeEllipse(ctx, cx, cy, rx, ry, style, width) {
  ctx.strokeStyle = style;
  ctx.lineWidth = width;
  ctx.beginPath();
  ctx.ellipse(cx, cy, Math.max(rx, 0.5), Math.max(ry, 0.5), 0, 0, 2 * Math.PI);
  ctx.stroke();
}

function vaeDrawPosteriorPanel(canvas, result) {
  // The true posterior on its local grid (heat map, h_1 right, h_2 up) with Q's 1- and 2-sigma ellipses.
  const G = result.gridSize, size = canvas.width;
  const small = document.createElement("canvas");
  small.width = G; small.height = G;
  const sctx = small.getContext("2d");
  const image = paintHeatmap(sctx.createImageData(G, G), result.logPost, G);
  sctx.putImageData(image, 0, 0);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(small, 0, 0, size, size);
  // grid cell centres span [0, size]: pixel = (h - first) / (last - first) * (size - size/G) + size/(2G)
  const [a1, b1] = [result.axis1[0], result.axis1[G - 1]], [a2, b2] = [result.axis2[0], result.axis2[G - 1]];
  const span = size - size / G, off = size / (2 * G);
  const px = (h) => off + ((h - a1) / (b1 - a1)) * span, py = (h) => size - off - ((h - a2) / (b2 - a2)) * span;
  const [m1, m2] = result.mu, [s1, s2] = result.sigma;
  for (const n of [1, 2]) {
    vaeEllipse(ctx, px(m1), py(m2), (n * s1 * span) / (b1 - a1), (n * s2 * span) / (b2 - a2), "#ffffff", n === 1 ? 2 : 1);
  }
  ctx.fillStyle = "#ffffff";
  ctx.font = "11px sans-serif";
  ctx.fillText(`h\u2081 ${a1.toFixed(2)} .. ${b1.toFixed(2)}`, 4, size - 4);
  ctx.fillText(`h\u2082 ${a2.toFixed(2)} .. ${b2.toFixed(2)}`, 4, 13);
}

function vaeDrawBounds(canvas, result, K) {
  // A number line with the ELBO (and its error bar), IWAE_K and log p(x).
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, w, h);
  const iw = result.iwae[K];
  const values = [result.elbo - 2 * result.elboError, result.logPx, iw.value, result.elbo];
  let lo = Math.min(...values), hi = Math.max(...values);
  const pad = Math.max(0.5, 0.15 * (hi - lo));
  lo -= pad; hi += pad;
  const x = (v) => 20 + ((v - lo) / (hi - lo)) * (w - 40);
  ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(20, h / 2); ctx.lineTo(w - 20, h / 2); ctx.stroke();
  ctx.font = "11px sans-serif"; ctx.textAlign = "center";
  const mark = (v, colour, label, row) => {
    ctx.strokeStyle = colour; ctx.lineWidth = 3;
    ctx.beginPath(); ctx.moveTo(x(v), h / 2 - 10); ctx.lineTo(x(v), h / 2 + 10); ctx.stroke();
    ctx.fillStyle = colour; ctx.fillText(label, x(v), row);
  };
  ctx.strokeStyle = "#1f77b4"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(x(result.elbo - 2 * result.elboError), h / 2); ctx.lineTo(x(result.elbo + 2 * result.elboError), h / 2); ctx.stroke();
  mark(result.elbo, "#1f77b4", "ELBO", 12);
  mark(iw.value, "#ff7f0e", `IWAE K=${K}`, h - 4);
  mark(result.logPx, "#2ca02c", "log p(x)", 12);
}

function windowOptions(model) {
  // The window rule (PosteriorPad's window_rule trait: vaecourse.marginal.window_rule, the constants
  // of vaecourse.marginal.adaptive_local_grid, sent by Python so that they exist in one place).
  return { rule: model.get("window_rule") };
}

async function renderPosteriorPad({ model, el }) {
  const decoderModel = await referencedModel(model, "decoder"), encoderModel = await referencedModel(model, "encoder");
  const engine = new VaePosteriorEngine(decoderModel.get("spec"), decoderModel.get("weights"),
                                        encoderModel.get("spec"), encoderModel.get("weights"));
  const D = engine.decoder.dataDim, side = Math.round(Math.sqrt(D));
  const images = asUint8(model.get("images"));
  const names = model.get("image_names");
  const labels = asUint8(model.get("labels"));

  el.classList.add("vae-widget", "vae-posterior-pad");
  const top = vaeElement("div", "vae-row");
  // 1. the pad and its tools
  const padBox = vaeElement("div", "vae-column");
  const penStatus = vaeLiveRegion("vae-pen");  // where the keyboard pen is
  const pad = new VaeDrawingPad(196, (final) => fromPad(final), (text) => { penStatus.textContent = text; });
  const padKeys = vaeKeyHelp(pad.canvas, PAD_KEYS);
  const tools = vaeElement("div", "vae-pad-tools");
  const clear = vaeElement("button", "vae-clear", "clear");
  const select = vaeElement("select", "vae-select vae-test-image");
  select.setAttribute("aria-label", "choose a test image");
  select.append(new Option("(your drawing)", "-1"));
  names.forEach((name, i) => select.append(new Option(name, String(i))));
  const binarizeBox = vaeElement("label", "vae-binarize");
  const binarize = vaeElement("input");
  binarize.type = "checkbox";
  binarizeBox.append(binarize, document.createTextNode(" binarise"));
  tools.append(clear, select, binarizeBox);
  padBox.append(vaeElement("div", "vae-caption", "draw a digit"), pad.canvas, tools, padKeys, penStatus);
  // 2. what the encoder sees
  const inputBox = vaeElement("div", "vae-column");
  const inputCanvas = vaeImageCanvas([side, side], 112, "the input x the encoder sees (28 x 28)");
  inputBox.append(vaeElement("div", "vae-caption", "the input x"), inputCanvas);
  // 3. the latent plane with Q
  const plane = new VaePlane(model.get("plane_size"), model.get("limit"), asFloat32(model.get("points")),
                             labels, ["h\u2081", "h\u2082"], model.get("label_names"));
  plane.canvas.setAttribute("role", "img");
  plane.canvas.setAttribute("aria-label", "latent plane: encoded test images and Q(h|x) of the input");
  const planeBox = vaeElement("div", "vae-column");
  planeBox.append(vaeElement("div", "vae-caption", "Q(h|x) over the encoded test images"), plane.canvas,
                  vaeLegend(model.get("label_names"), labels));
  // 4. the true posterior on the local grid
  const postBox = vaeElement("div", "vae-column");
  const post = vaeElement("canvas", "vae-posterior-grid");
  post.width = 240; post.height = 240;
  post.setAttribute("role", "img");
  post.setAttribute("aria-label", "the true posterior p(h|x) on a local grid, with Q's 1 and 2 sigma ellipses");
  postBox.append(vaeElement("div", "vae-caption", "true posterior p(h|x), zoomed; white: Q"), post);
  top.append(padBox, inputBox, planeBox, postBox);
  // the numbers
  const bottom = vaeElement("div", "vae-row");
  const table = vaeElement("table", "vae-numbers");
  const rows = {};
  for (const [key, label] of [["logpx", "log p(x), quadrature on the grid"], ["elbo", "ELBO (closed-form KL + MC)"],
    ["iwae", "IWAE bound L_K"], ["gap", "gap log p(x) - ELBO"], ["kl", "D[Q || p(h|x)] on the grid"],
    ["mass", "Q's probability on the grid"], ["q", "Q: mean, std"]]) {
    const tr = vaeElement("tr");
    const value = vaeElement("td", "vae-value");
    value.dataset.key = key;
    tr.append(vaeElement("td", "", label), value);
    table.append(tr);
    rows[key] = value;
  }
  const side2 = vaeElement("div", "vae-column");
  const kRow = vaeElement("label", "vae-k-row");
  const kSlider = vaeElement("input", "vae-slider vae-k");
  const kMax = Math.floor(Math.log2(model.get("samples")));
  Object.assign(kSlider, { type: "range", min: 0, max: kMax, step: 1 });
  kSlider.setAttribute("aria-label", "IWAE samples K (powers of two)");
  const kValue = vaeElement("span", "vae-slider-value");
  kRow.append(document.createTextNode("IWAE K"), kSlider, kValue);
  const bounds = vaeElement("canvas", "vae-bounds");
  bounds.width = 420; bounds.height = 54;
  bounds.setAttribute("role", "img");
  bounds.setAttribute("aria-label", "number line: ELBO, IWAE bound and log p(x)");
  const timing = vaeElement("div", "vae-timing");
  side2.append(kRow, bounds, timing);
  // The numbers in one sentence, said when the final numbers for a new input (or another K) are shown.
  const live = vaeLiveRegion();
  side2.append(live);
  bottom.append(table, side2);
  el.replaceChildren(top, bottom);

  let lastResult = null, updates = 0, requests = 0;
  const nats = (v) => `${v.toFixed(2)} nats`;
  function showNumbers() {
    const r = lastResult;
    if (!r) return;
    const K = 2 ** Number(kSlider.value);
    kValue.textContent = String(K);
    const iw = r.iwae[K];
    rows.logpx.textContent = nats(r.logPx);
    rows.elbo.textContent = `${nats(r.elbo)} \u00b1 ${r.elboError.toFixed(2)}`;
    rows.iwae.textContent = `K = ${K}: ${nats(iw.value)}` + (iw.groups > 1 ? ` \u00b1 ${iw.error.toFixed(2)}` : "");
    rows.gap.textContent = `${nats(r.gap)} \u00b1 ${r.elboError.toFixed(2)}`;
    rows.kl.textContent = nats(r.klGrid);
    rows.mass.textContent = r.qMass.toFixed(3) + (r.widened ? ` (posterior grid moved ${r.widened}x)` : "");
    rows.q.textContent = `(${r.mu[0].toFixed(2)}, ${r.mu[1].toFixed(2)}), (${r.sigma[0].toFixed(3)}, ${r.sigma[1].toFixed(3)})`;
    vaeDrawBounds(bounds, r, K);
    el.dataset.k = String(K);
  }
  function say(what) {
    const r = lastResult;
    if (!r) return;
    const K = 2 ** Number(kSlider.value);
    const source = select.value === "-1" ? "your drawing" : names[Number(select.value)];
    live.textContent = `${what || source}: Q mean (${vaeSigned(r.mu[0])}, ${vaeSigned(r.mu[1])}), `
      + `std (${r.sigma[0].toFixed(3)}, ${r.sigma[1].toFixed(3)}); log p(x) ${nats(r.logPx)}; `
      + `ELBO ${nats(r.elbo)}; IWAE bound with K = ${K}: ${nats(r.iwae[K].value)}; `
      + `gap log p(x) minus ELBO ${nats(r.gap)}; D[Q || p(h|x)] ${nats(r.klGrid)}.`;
  }
  function draw(result, started) {
    lastResult = result;
    plane.draw(null);
    const ctx = plane.canvas.getContext("2d");
    const [cx, cy] = plane.toPixel(result.mu[0], result.mu[1]);
    const unit = (plane.size - 2 * plane.margin) / (2 * plane.limit);
    vaeEllipse(ctx, cx, cy, 2 * result.sigma[0] * unit, 2 * result.sigma[1] * unit, "#000000", 1);
    vaeEllipse(ctx, cx, cy, result.sigma[0] * unit, result.sigma[1] * unit, "#000000", 2);
    ctx.fillStyle = "#000000";
    ctx.beginPath(); ctx.arc(cx, cy, 2.5, 0, 2 * Math.PI); ctx.fill();
    vaeDrawPosteriorPanel(post, result);
    showNumbers();
    const ms = performance.now() - started;
    updates += 1;
    timing.textContent = (result.final ? `last update ${ms.toFixed(0)} ms` : `first numbers after ${ms.toFixed(0)} ms; following the posterior ...`)
      + ` (${result.decodes} decoder passes, computed in ${result.ms.total.toFixed(0)} ms `
      + `${engine.worker ? `by ${engine.workers.length} Web Worker${engine.workers.length > 1 ? "s" : ""}` : "on the page"})`;
    if (result.final) {
      el.dataset.updateMs = ms.toFixed(2);
      say();
    }
    el.dataset.computeMs = result.ms.total.toFixed(2);
    el.dataset.decodes = String(result.decodes);
    el.dataset.updates = String(updates);
    el.dataset.final = result.final ? "1" : "0";
    el.vaeResult = result;
  }
  // While a stroke goes on, one update at a time: the newest drawing waits until the running one has
  // shown its first numbers (so the numbers follow the pen without the workers redoing thrown-away
  // work); the stroke's end, a test image or the binarise box start at once and supersede it.
  let stroking = false, waiting = null;
  function update(x, final) {
    vaeDrawImage(inputCanvas, x);
    if (!final && stroking) { waiting = x; return; }
    stroking = !final;
    waiting = null;
    const started = performance.now();
    const id = ++requests;
    el.dataset.requested = String(id);
    const options = { ...windowOptions(model), samples: model.get("samples"), seed: model.get("seed") };
    engine.request(x, options, (result) => {
      draw(result, started);
      if (!result.final) {
        el.dataset.firstMs = (performance.now() - started).toFixed(2);
        if (!final) {
          stroking = false;
          if (waiting) update(waiting, false);
        }
        return;
      }
      el.dataset.answered = String(id);  // the final numbers for the newest input are on screen
      if (!final) return;
      const bytes = Uint8Array.from(x, (v) => Math.round(255 * v));
      model.set("x", new DataView(bytes.buffer));
      model.set("browser", { log_px: result.logPx, elbo: result.elbo, elbo_error: result.elboError,
        kl_grid: result.klGrid, gap: result.gap, q_mass: result.qMass, mu: result.mu, sigma: result.sigma,
        iwae: Object.fromEntries(Object.entries(result.iwae).map(([K, v]) => [K, v.value])), ms: result.ms.total });
      vaeSave(model);
    });
  }
  const prepared = (pixels) => (binarize.checked ? pixels.map((v) => (v >= 0.5 ? 1 : 0)) : pixels);
  let raw = null;  // the input before binarisation
  function fromPad(final) {
    const image = pad.image();
    if (!image) return;
    select.value = "-1";
    shown = null;
    raw = image;
    update(prepared(raw), final);
  }
  let shown = null;  // the test image on the pad (null: a drawing)
  function fromIndex() {
    const index = model.get("index");
    select.value = String(index);
    if (index < 0 || index === shown) return;
    shown = index;
    raw = Float32Array.from(images.subarray(index * D, (index + 1) * D), (v) => v / 255);
    pad.load(raw, side);
    update(prepared(raw), true);
  }
  clear.addEventListener("click", () => { pad.clear(); });
  select.addEventListener("change", () => { model.set("index", Number(select.value)); vaeSave(model); fromIndex(); });
  binarize.addEventListener("change", () => { model.set("binarize", binarize.checked); vaeSave(model); if (raw) update(prepared(raw), true); });
  kSlider.addEventListener("input", () => {
    model.set("k", 2 ** Number(kSlider.value));
    kSlider.setAttribute("aria-valuetext", `K = ${model.get("k")}`);
    vaeSave(model);
    showNumbers();
    say(`IWAE samples K = ${2 ** Number(kSlider.value)}`);
  });
  const onK = () => { kSlider.value = String(Math.round(Math.log2(model.get("k")))); kSlider.setAttribute("aria-valuetext", `K = ${model.get("k")}`); showNumbers(); };
  const onIndex = () => fromIndex();
  const onBinarize = () => { if (binarize.checked === model.get("binarize")) return; binarize.checked = model.get("binarize"); if (raw) update(prepared(raw), true); };
  model.on("change:k", onK);
  model.on("change:index", onIndex);
  model.on("change:binarize", onBinarize);
  binarize.checked = model.get("binarize");
  kSlider.value = String(Math.round(Math.log2(model.get("k")))); kSlider.setAttribute("aria-valuetext", `K = ${model.get("k")}`);
  plane.draw(null);
  fromIndex();
  return () => {
    model.off("change:k", onK); model.off("change:index", onIndex); model.off("change:binarize", onBinarize);
    engine.stop();
  };
}

export default { render: renderPosteriorPad };
export { unpackDecoder, unpackEncoder, encodeQ, vaePosteriorNumbers, vaeMnistPreprocess, fromFloat16,
         decodeBatch, decodeInto, VaePosteriorEngine, vaePosterior, vaeLogLikelihoodBatch };
