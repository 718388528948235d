// Generated from vaecourse/js/src/ by esbuild-wasm@0.28.2 (make bundles): edit the sources, not this file.

// src/buffers.js
function asTyped(value, Type) {
  if (value instanceof Type) return value;
  if (ArrayBuffer.isView(value)) {
    return new Type(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));
  }
  if (value instanceof ArrayBuffer) return new Type(value.slice(0));
  if (Array.isArray(value)) return Type.from(value);
  return null;
}
function asFloat32(value) {
  const floats = asTyped(value, Float32Array);
  if (floats) return floats;
  throw new Error("vaecourse: decoder weights must be bytes or an array, got " + typeof value);
}
function asUint8(value) {
  const bytes = asTyped(value, Uint8Array);
  if (bytes) return bytes;
  return new Uint8Array(0);
}
var HALF_TABLE = null;
function fromFloat16(value) {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 32768 ? -1 : 1, exponent = h >> 10 & 31, fraction = h & 1023;
      HALF_TABLE[h] = exponent === 0 ? sign * fraction * 2 ** -24 : exponent === 31 ? fraction ? NaN : sign * Infinity : sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
    }
  }
  let bytes = asUint8(value);
  if (bytes.byteOffset % 2) bytes = bytes.slice();
  const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) out[i] = HALF_TABLE[halves[i]];
  return out;
}
function weightsOf(spec, weights) {
  return spec.dtype === "float16" ? fromFloat16(weights) : asFloat32(weights);
}

// src/drawing.js
function vaeElement(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== void 0) node.textContent = text;
  return node;
}
function vaeImageCanvas(dataShape, cssSize, label) {
  const [height, width] = dataShape.slice(-2);
  const canvas = vaeElement("canvas", "vae-image");
  canvas.width = width;
  canvas.height = height;
  canvas.style.width = `${cssSize}px`;
  canvas.style.height = `${Math.round(cssSize * height / width)}px`;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", label);
  return canvas;
}
function vaeDrawImage(canvas, pixels) {
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(canvas.width, canvas.height);
  for (let j = 0; j < canvas.width * canvas.height; j++) {
    const v = Math.round(255 * Math.min(1, Math.max(0, pixels[j])));
    image.data[4 * j] = v;
    image.data[4 * j + 1] = v;
    image.data[4 * j + 2] = v;
    image.data[4 * j + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}
function vaeLiveRegion(className) {
  const region = vaeElement("div", `vae-live ${className || ""}`.trim());
  region.setAttribute("role", "status");
  region.setAttribute("aria-live", "polite");
  region.setAttribute("aria-atomic", "true");
  return region;
}
var vaeSigned = (v, digits = 2) => (v < 0 ? "\u2212" : "") + Math.abs(v).toFixed(digits);

// src/ising_sampler.js
var VaeIsingLattice = class {
  constructor(L, seed, ordered) {
    this.L = L;
    this.spins = new Int8Array(L * L);
    let a = seed >>> 0;
    this.uniform = () => {
      a = a + 1831565813 >>> 0;
      let t = a;
      t = Math.imul(t ^ t >>> 15, t | 1);
      t ^= t + Math.imul(t ^ t >>> 7, t | 61);
      return ((t ^ t >>> 14) >>> 0) / 4294967296;
    };
    for (let p = 0; p < L * L; p++) this.spins[p] = ordered ? 1 : this.uniform() < 0.5 ? 1 : -1;
    this.temperature = NaN;
    this.accept = [1, 1, 1];
  }
  setTemperature(T) {
    this.temperature = T;
    this.accept = [1, Math.exp(-4 / T), Math.exp(-8 / T)];
  }
  sweep() {
    const L = this.L, s = this.spins;
    for (let colour = 0; colour < 2; colour++) {
      for (let i = 0; i < L; i++) {
        const up = (i + L - 1) % L * L, down = (i + 1) % L * L, row = i * L;
        for (let j = (i + colour) % 2; j < L; j += 2) {
          const left = (j + L - 1) % L, right = (j + 1) % L;
          const field = s[up + j] + s[down + j] + s[row + left] + s[row + right];
          const dE = 2 * s[row + j] * field;
          if (dE <= 0 || this.uniform() < this.accept[dE >> 2]) s[row + j] = -s[row + j];
        }
      }
    }
  }
  energy() {
    const L = this.L, s = this.spins;
    let e = 0;
    for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) {
      e -= s[i * L + j] * (s[i * L + (j + 1) % L] + s[(i + 1) % L * L + j]);
    }
    return e / (L * L);
  }
  magnetisation() {
    let m = 0;
    for (const v of this.spins) m += v;
    return m / this.spins.length;
  }
  pixels() {
    return Float32Array.from(this.spins, (v) => (v + 1) / 2);
  }
};
function vaeOnsagerM(T) {
  const x = 1 - Math.sinh(2 / T) ** -4;
  return x > 0 ? x ** 0.125 : 0;
}
function vaeIsingAverages(L, T, sweeps, burn, seed) {
  const lattice = new VaeIsingLattice(L, seed, true);
  lattice.setTemperature(T);
  for (let s = 0; s < burn; s++) lattice.sweep();
  const batches = 20, per = Math.floor(sweeps / batches);
  const mB = [], eB = [];
  for (let b = 0; b < batches; b++) {
    let m = 0, e = 0;
    for (let s = 0; s < per; s++) {
      lattice.sweep();
      m += Math.abs(lattice.magnetisation());
      e += lattice.energy();
    }
    mB.push(m / per);
    eB.push(e / per);
  }
  const stats = (v) => {
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1));
    return [mean, sd / Math.sqrt(v.length)];
  };
  const [absM, absMError] = stats(mB), [energy, energyError] = stats(eB);
  return { absM, absMError, energy, energyError };
}

// src/widget_model.js
async function referencedModel(model, trait) {
  const ref = model.get(trait);
  const holder = typeof ref === "string" ? await model.widget_manager.get_model(ref.replace(/^IPY_MODEL_/, "")) : ref;
  if (!holder) throw new Error(`vaecourse: the widget has no ${trait}`);
  return holder;
}
function vaeSave(model) {
  try {
    model.save_changes();
  } catch (error) {
  }
}

// src/mlp_decoder.js
function vaeDenseOne(layer, input, output) {
  const { W, b, nIn, nOut, act } = layer;
  for (let o = 0; o < nOut; o++) {
    const row = o * nIn;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, i = 0;
    for (; i + 4 <= nIn; i += 4) {
      s0 += W[row + i] * input[i];
      s1 += W[row + i + 1] * input[i + 1];
      s2 += W[row + i + 2] * input[i + 2];
      s3 += W[row + i + 3] * input[i + 3];
    }
    for (; i < nIn; i++) s0 += W[row + i] * input[i];
    let s = b[o] + (s0 + s1 + (s2 + s3));
    if (act === "relu") s = s > 0 ? s : 0;
    else if (act === "tanh") s = Math.tanh(s);
    output[o] = s;
  }
  return output;
}

// src/mlp_encoder.js
function unpackEncoder(spec, weights) {
  const flat = weightsOf(spec, weights);
  const layers = [];
  let offset = 0;
  for (const layer of spec.layers) {
    const nW = layer.n_out * layer.n_in;
    const W = flat.subarray(offset, offset + nW);
    const b = flat.subarray(offset + nW, offset + nW + layer.n_out);
    offset += nW + layer.n_out;
    layers.push({ W, b, nIn: layer.n_in, nOut: layer.n_out, act: layer.activation });
  }
  if (offset !== flat.length) {
    throw new Error(`vaecourse: encoder spec needs ${offset} floats, the buffer holds ${flat.length}`);
  }
  const body = layers.slice(0, -2);
  const [muHead, scaleHead] = layers.slice(-2);
  if (!muHead || layers[0].nIn !== spec.data_dim || muHead.nOut !== spec.latent_dim || scaleHead.nOut !== spec.latent_dim) {
    throw new Error("vaecourse: encoder spec does not map data_dim to two latent_dim heads");
  }
  return {
    body,
    muHead,
    scaleHead,
    dataDim: spec.data_dim,
    latentDim: spec.latent_dim,
    head: spec.head,
    flat,
    spec
  };
}
function encodeQ(encoder, x) {
  let a = Float64Array.from(x);
  for (const layer of encoder.body) a = vaeDenseOne(layer, a, new Float64Array(layer.nOut));
  const mu = vaeDenseOne(encoder.muHead, a, new Float64Array(encoder.latentDim));
  const s = vaeDenseOne(encoder.scaleHead, a, new Float64Array(encoder.latentDim));
  const factor = encoder.head === "log_var" ? 0.5 : 1;
  const sigma = s.map((v) => Math.exp(factor * v));
  return { mu, sigma };
}
async function vaeLoadEncoder(model) {
  const holder = await referencedModel(model, "encoder");
  return unpackEncoder(holder.get("spec"), holder.get("weights"));
}

// src/ising_lattice.js
function vaeLatentPlot(canvas, state) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, m = 34;
  const { points, tMin, tMax, yMax } = state;
  const px = (T2) => m + (T2 - tMin) / (tMax - tMin) * (w - m - 8);
  const py = (y2) => h - m + 10 - (y2 + yMax) / (2 * yMax) * (h - m - 8);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, w, h);
  ctx.strokeStyle = "#999";
  ctx.lineWidth = 1;
  ctx.strokeRect(m, 2, w - m - 8, h - m + 8);
  if (state.tcEstimate.length) {
    const [v, e] = state.tcEstimate;
    ctx.fillStyle = "rgba(255, 127, 14, 0.3)";
    ctx.fillRect(px(v - e), 2, Math.max(2, px(v + e) - px(v - e)), h - m + 8);
  }
  ctx.globalAlpha = 0.35;
  ctx.fillStyle = "#555";
  for (let i = 0; i < points.length / 2; i++) ctx.fillRect(px(points[2 * i]) - 1, py(points[2 * i + 1]) - 1, 2, 2);
  ctx.globalAlpha = 1;
  ctx.strokeStyle = "#2ca02c";
  ctx.lineWidth = 2;
  for (const sign of [1, -1]) {
    ctx.beginPath();
    for (let k = 0; k <= 200; k++) {
      const T2 = tMin + (tMax - tMin) * k / 200;
      const y2 = sign * state.scale * vaeOnsagerM(T2);
      if (k === 0) ctx.moveTo(px(T2), py(y2));
      else ctx.lineTo(px(T2), py(y2));
    }
    ctx.stroke();
  }
  ctx.setLineDash([4, 3]);
  ctx.strokeStyle = "#444";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(px(state.tc), 2);
  ctx.lineTo(px(state.tc), h - m + 10);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = "#333";
  ctx.font = "11px sans-serif";
  ctx.textAlign = "center";
  for (let T2 = Math.ceil(tMin * 2) / 2; T2 <= tMax + 1e-9; T2 += 0.5) ctx.fillText(T2.toFixed(1), px(T2), h - m + 24);
  ctx.fillText("temperature T", (w + m) / 2, h - 3);
  ctx.save();
  ctx.translate(11, (h - m) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText("latent value", 0, 0);
  ctx.restore();
  ctx.textAlign = "left";
  ctx.fillStyle = "#2ca02c";
  ctx.fillText("\xB1 Onsager M(T), scaled", m + 6, 14);
  ctx.fillStyle = "#444";
  ctx.fillText(`dashed: Onsager T_c = ${state.tc.toFixed(3)}`, m + 6, 27);
  if (state.tcEstimate.length) {
    ctx.fillStyle = "#d2691e";
    ctx.fillText(`band: VAE T_c = ${state.tcEstimate[0].toFixed(2)} \xB1 ${state.tcEstimate[1].toFixed(2)}`, m + 6, 40);
  }
  state.trail.forEach(([T2, y2], i) => {
    ctx.fillStyle = `rgba(214, 39, 40, ${(0.15 + 0.6 * i / state.trail.length).toFixed(2)})`;
    ctx.beginPath();
    ctx.arc(px(T2), py(y2), 2.5, 0, 2 * Math.PI);
    ctx.fill();
  });
  const [T, y] = state.trail[state.trail.length - 1] || [NaN, NaN];
  if (Number.isFinite(y)) {
    ctx.fillStyle = "#d62728";
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.arc(px(T), py(y), 6, 0, 2 * Math.PI);
    ctx.fill();
    ctx.stroke();
    state.pointPixel = [px(T), py(y)];
  }
}
async function renderIsingLattice({ model, el }) {
  const encoder = await vaeLoadEncoder(model);
  const L = model.get("L");
  const lattice = new VaeIsingLattice(L, model.get("seed"), false);
  const points = asFloat32(model.get("points"));
  let yMax = 0.1;
  for (let i = 1; i < points.length; i += 2) yMax = Math.max(yMax, Math.abs(points[i]));
  const state = {
    points,
    tMin: model.get("t_min"),
    tMax: model.get("t_max"),
    yMax: 1.08 * yMax,
    scale: model.get("onsager_scale"),
    tc: model.get("t_c"),
    tcEstimate: model.get("tc_estimate"),
    trail: []
  };
  const centre = model.get("centre"), direction = model.get("direction");
  el.classList.add("vae-widget", "vae-ising-lattice");
  const left = vaeElement("div", "vae-column");
  const canvas = vaeImageCanvas([L, L], 224, "the Ising lattice: black spin up, white spin down");
  canvas.classList.add("vae-lattice");
  const sliderRow = vaeElement("label", "vae-slider-row");
  const slider = vaeElement("input", "vae-slider vae-temperature");
  Object.assign(slider, { type: "range", min: state.tMin, max: state.tMax, step: 0.01 });
  slider.setAttribute("aria-label", "temperature T");
  const tValue = vaeElement("span", "vae-slider-value");
  sliderRow.append(document.createTextNode("T"), slider, tValue);
  const pause = vaeElement("button", "vae-pause", "pause");
  const readout = vaeElement("div", "vae-readout");
  const live = vaeLiveRegion();
  left.append(vaeElement("div", "vae-caption", `Metropolis in your browser, L = ${L}`), canvas, sliderRow, pause, readout, live);
  const right = vaeElement("div", "vae-column");
  const plot = vaeElement("canvas", "vae-latent-plot");
  plot.width = 440;
  plot.height = 300;
  plot.setAttribute("role", "img");
  plot.setAttribute("aria-label", "latent value against temperature: held-out configurations, Onsager's M(T), T_c, and the live lattice's point");
  right.append(vaeElement("div", "vae-caption", "its encoding, on the chapter's latent-vs-T plot"), plot);
  el.replaceChildren(left, right);
  const pixels = new Float64Array(L * L);
  let frames = 0, visible = true, stopped = false, latest = 0, announce = null;
  function say(what) {
    const m = lattice.magnetisation();
    live.textContent = `${what}: temperature T = ${lattice.temperature.toFixed(2)}, magnetisation m = ${vaeSigned(m, 3)} (|m| = ${Math.abs(m).toFixed(3)}), latent value ${vaeSigned(latest, 3)}${model.get("running") ? "" : ", sampler paused"}.`;
  }
  function setT(T, spoken) {
    lattice.setTemperature(T);
    slider.value = String(T);
    tValue.textContent = Number(T).toFixed(2);
    slider.setAttribute("aria-valuetext", `T = ${Number(T).toFixed(2)}`);
    if (!spoken) return;
    clearTimeout(announce);
    announce = setTimeout(() => say(`temperature changed to ${Number(T).toFixed(2)}`), 500);
  }
  function frame() {
    if (stopped) return;
    if (model.get("running") && visible) {
      for (let s = 0; s < model.get("sweeps_per_frame"); s++) lattice.sweep();
      const x = lattice.pixels();
      for (let p = 0; p < L * L; p++) pixels[p] = 1 - x[p];
      vaeDrawImage(canvas, pixels);
      const { mu } = encodeQ(encoder, x);
      let value = 0;
      for (let d = 0; d < mu.length; d++) value += (mu[d] - centre[d]) * direction[d];
      latest = value;
      state.trail.push([lattice.temperature, value]);
      if (state.trail.length > 40) state.trail.shift();
      vaeLatentPlot(plot, state);
      const m = lattice.magnetisation();
      readout.textContent = `m = ${m.toFixed(3)}, energy per spin = ${lattice.energy().toFixed(3)}, latent = ${value.toFixed(3)}`;
      frames += 1;
      if (frames === 1) say("lattice started");
      el.dataset.frames = String(frames);
      el.dataset.latent = value.toFixed(5);
      el.dataset.temperature = lattice.temperature.toFixed(3);
      el.dataset.magnetisation = m.toFixed(5);
    }
    requestAnimationFrame(frame);
  }
  slider.addEventListener("input", () => {
    model.set("T", Number(slider.value));
    setT(Number(slider.value), true);
    vaeSave(model);
  });
  pause.addEventListener("click", () => {
    model.set("running", !model.get("running"));
    pause.textContent = model.get("running") ? "pause" : "run";
    say(model.get("running") ? "sampler running" : "sampler paused");
    vaeSave(model);
  });
  const onT = () => setT(model.get("T"), true);
  model.on("change:T", onT);
  if (typeof IntersectionObserver !== "undefined") {
    new IntersectionObserver((entries) => {
      visible = entries.some((e) => e.isIntersecting);
    }).observe(el);
  }
  setT(model.get("T"), false);
  el.vaeLattice = lattice;
  requestAnimationFrame(frame);
  return () => {
    stopped = true;
    clearTimeout(announce);
    model.off("change:T", onT);
  };
}
var ising_lattice_default = { render: renderIsingLattice };
export {
  VaeIsingLattice,
  ising_lattice_default as default,
  encodeQ,
  unpackEncoder,
  vaeIsingAverages,
  vaeOnsagerM
};
