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

// src/palette.js
var LABEL_COLOURS = [
  "#0072B2",
  "#E69F00",
  "#009E73",
  "#D55E00",
  "#CC79A7",
  "#56B4E9",
  "#F0E442",
  "#000000",
  "#999999",
  "#882255"
];
var VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
function paintHeatmap(image, logDensity, G) {
  let max = -Infinity;
  for (const v of logDensity) if (v > max) max = v;
  for (let i = 0; i < G; i++) {
    for (let j = 0; j < G; j++) {
      const x = Math.exp(logDensity[i * G + j] - max) * (VIRIDIS.length - 1);
      const lo = Math.min(Math.floor(x), VIRIDIS.length - 2);
      const f = x - lo;
      const pixel = 4 * ((G - 1 - j) * G + i);
      for (let c = 0; c < 3; c++) image.data[pixel + c] = Math.round((1 - f) * VIRIDIS[lo][c] + f * VIRIDIS[lo + 1][c]);
      image.data[pixel + 3] = 255;
    }
  }
  return image;
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
var VaePlane = class {
  // A square latent plane [-limit, limit]^2 (h_1 to the right, h_2 up) over a cached scatter layer; with
  // labels, each class's name (labelNames, default the label number) is written at its centre (the mean
  // of its points), so that colour is not the only cue.
  constructor(size, limit, points, labels, axisNames, labelNames) {
    this.size = size;
    this.limit = limit;
    this.margin = 28;
    this.canvas = vaeElement("canvas", "vae-plane");
    this.canvas.width = size;
    this.canvas.height = size;
    this.base = document.createElement("canvas");
    this.base.width = size;
    this.base.height = size;
    this.drawBase(points, labels, axisNames, labelNames || []);
  }
  toPixel(h1, h2) {
    const span = this.size - 2 * this.margin;
    return [
      this.margin + (h1 + this.limit) / (2 * this.limit) * span,
      this.size - this.margin - (h2 + this.limit) / (2 * this.limit) * span
    ];
  }
  toLatent(px, py) {
    const span = this.size - 2 * this.margin;
    const clip = (v) => Math.max(-this.limit, Math.min(this.limit, v));
    return [
      clip((px - this.margin) / span * 2 * this.limit - this.limit),
      clip((this.size - this.margin - py) / span * 2 * this.limit - this.limit)
    ];
  }
  drawBase(points, labels, axisNames, labelNames) {
    const ctx = this.base.getContext("2d");
    const m = this.margin;
    const s = this.size;
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, s, s);
    ctx.strokeStyle = "#999999";
    ctx.lineWidth = 1;
    ctx.strokeRect(m, m, s - 2 * m, s - 2 * m);
    ctx.fillStyle = "#333333";
    ctx.font = "11px sans-serif";
    ctx.textAlign = "center";
    const step = this.limit > 4 ? 2 : 1;
    for (let t = -Math.floor(this.limit); t <= this.limit; t += step) {
      const [x, y] = this.toPixel(t, t);
      ctx.fillText(String(t), x, s - m + 13);
      ctx.textAlign = "right";
      ctx.fillText(String(t), m - 4, y + 4);
      ctx.textAlign = "center";
      ctx.strokeStyle = "#eeeeee";
      ctx.beginPath();
      ctx.moveTo(x, m);
      ctx.lineTo(x, s - m);
      ctx.moveTo(m, y);
      ctx.lineTo(s - m, y);
      ctx.stroke();
    }
    ctx.fillText(axisNames[0], s / 2, s - 2);
    ctx.save();
    ctx.translate(10, s / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(axisNames[1], 0, 0);
    ctx.restore();
    const n = points.length / 2;
    ctx.globalAlpha = 0.6;
    for (let i = 0; i < n; i++) {
      const [x, y] = this.toPixel(points[2 * i], points[2 * i + 1]);
      ctx.fillStyle = labels.length === n ? LABEL_COLOURS[labels[i] % 10] : "#555555";
      ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
    }
    ctx.globalAlpha = 1;
    ctx.font = "bold 15px sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.lineWidth = 4;
    ctx.strokeStyle = "#ffffff";
    ctx.fillStyle = "#000000";
    for (const { label, h1, h2 } of vaeClassCentres(points, labels)) {
      const [x, y] = this.toPixel(h1, h2);
      const name = labelNames[label] ?? String(label);
      ctx.strokeText(name, x, y);
      ctx.fillText(name, x, y);
    }
    ctx.textBaseline = "alphabetic";
  }
  draw(marker, path) {
    const ctx = this.canvas.getContext("2d");
    ctx.drawImage(this.base, 0, 0);
    if (path && path.length > 1) {
      ctx.strokeStyle = "#000000";
      ctx.lineWidth = 2;
      ctx.beginPath();
      path.forEach(([a, b], i) => {
        const [x, y] = this.toPixel(a, b);
        if (i === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      });
      ctx.stroke();
    }
    if (marker) {
      const [x, y] = this.toPixel(marker[0], marker[1]);
      ctx.strokeStyle = "#000000";
      ctx.fillStyle = "#ffffff";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(x, y, 6, 0, 2 * Math.PI);
      ctx.fill();
      ctx.stroke();
    }
  }
};
function vaeLegend(labelNames, labels) {
  const legend = vaeElement("div", "vae-legend");
  const present = new Set(labels);
  labelNames.forEach((name, i) => {
    if (labels.length && !present.has(i)) return;
    const item = vaeElement("span", "vae-legend-item");
    const swatch = vaeElement("span", "vae-swatch");
    swatch.style.background = LABEL_COLOURS[i % 10];
    item.append(swatch, document.createTextNode(name));
    legend.append(item);
  });
  return legend;
}
function vaeLiveRegion(className) {
  const region = vaeElement("div", `vae-live ${className || ""}`.trim());
  region.setAttribute("role", "status");
  region.setAttribute("aria-live", "polite");
  region.setAttribute("aria-atomic", "true");
  return region;
}
var vaeHelpCount = 0;
function vaeKeyHelp(control, text) {
  const help = vaeElement("div", "vae-keys", text);
  help.id = `vae-keys-${++vaeHelpCount}-${Math.random().toString(36).slice(2, 8)}`;
  control.setAttribute("aria-describedby", help.id);
  return help;
}
function vaeClassCentres(points, labels) {
  const n = points.length / 2;
  if (labels.length !== n || n === 0) return [];
  const sums = /* @__PURE__ */ new Map();
  for (let i = 0; i < n; i++) {
    const s = sums.get(labels[i]) || [0, 0, 0];
    s[0] += points[2 * i];
    s[1] += points[2 * i + 1];
    s[2] += 1;
    sums.set(labels[i], s);
  }
  return Array.from(sums, ([label, [a, b, c]]) => ({ label, h1: a / c, h2: b / c }));
}
var vaeSigned = (v, digits = 2) => (v < 0 ? "\u2212" : "") + Math.abs(v).toFixed(digits);

// src/drawing_pad.js
var VAE_PAD_RES = 112;
var PAD_KEYS = "Keys on the pad: arrows move the pen (Shift: 4 times as far), Space puts the pen down to draw and lifts it (the numbers follow), Escape lifts it.";
function vaeSampleBilinear(ink, n, u, v) {
  const j = Math.floor(u - 0.5), i = Math.floor(v - 0.5);
  const fu = u - 0.5 - j, fv = v - 0.5 - i;
  const at = (r, c) => r >= 0 && r < n && c >= 0 && c < n ? ink[r * n + c] : 0;
  return (1 - fv) * ((1 - fu) * at(i, j) + fu * at(i, j + 1)) + fv * ((1 - fu) * at(i + 1, j) + fu * at(i + 1, j + 1));
}
function vaeMnistPreprocess(ink, n, size = 28, box = 20) {
  let top = n, bottom = -1, left = n, right = -1;
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) {
    if (ink[r * n + c] > 0.05) {
      if (r < top) top = r;
      if (r > bottom) bottom = r;
      if (c < left) left = c;
      if (c > right) right = c;
    }
  }
  if (bottom < 0) return null;
  const height = bottom - top + 1, width = right - left + 1;
  const scale = box / Math.max(height, width);
  const render = (shiftRow, shiftCol) => {
    const out = new Float32Array(size * size);
    const sub = 4;
    for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) {
      let s = 0;
      for (let a = 0; a < sub; a++) for (let b = 0; b < sub; b++) {
        const y = r + (a + 0.5) / sub - shiftRow, x = c + (b + 0.5) / sub - shiftCol;
        s += vaeSampleBilinear(ink, n, left + x / scale, top + y / scale);
      }
      out[r * size + c] = Math.min(1, s / (sub * sub));
    }
    return out;
  };
  let image = render((size - height * scale) / 2, (size - width * scale) / 2);
  let mass = 0, rowMean = 0, colMean = 0;
  for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) {
    const v = image[r * size + c];
    mass += v;
    rowMean += v * (r + 0.5);
    colMean += v * (c + 0.5);
  }
  if (mass > 0) {
    const shiftRow = (size - height * scale) / 2 + size / 2 - rowMean / mass;
    const shiftCol = (size - width * scale) / 2 + size / 2 - colMean / mass;
    image = render(shiftRow, shiftCol);
  }
  return image;
}
var VaeDrawingPad = class {
  // A square canvas of cssSize pixels; onStroke(final) is called while drawing (final = false, at
  // most once per animation frame) and when a stroke ends (final = true).
  constructor(cssSize, onStroke, onPen) {
    this.n = VAE_PAD_RES;
    this.ink = new Float32Array(this.n * this.n);
    this.canvas = vaeElement("canvas", "vae-pad");
    this.canvas.width = this.n;
    this.canvas.height = this.n;
    this.canvas.style.width = `${cssSize}px`;
    this.canvas.style.height = `${cssSize}px`;
    this.canvas.setAttribute("role", "application");
    this.canvas.setAttribute("aria-label", "drawing pad: draw a digit with the mouse, a pen, a finger or the keyboard");
    this.canvas.tabIndex = 0;
    this.onStroke = onStroke;
    this.onPen = onPen || (() => {
    });
    this.pen = [this.n / 2, this.n / 2];
    this.penDown = false;
    this.keyboard = false;
    this.canvas.addEventListener("keydown", (event) => this.key(event));
    this.canvas.addEventListener("blur", () => {
      if (this.penDown) this.lift();
    });
    this.radius = 4.2;
    this.last = null;
    this.frame = false;
    const position = (event) => {
      const rect = this.canvas.getBoundingClientRect();
      return [(event.clientX - rect.left) * this.n / rect.width, (event.clientY - rect.top) * this.n / rect.height];
    };
    this.canvas.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      this.canvas.setPointerCapture(event.pointerId);
      this.last = position(event);
      this.stamp(...this.last);
      this.changed(false);
    });
    this.canvas.addEventListener("pointermove", (event) => {
      if (!this.last) return;
      event.preventDefault();
      const next = position(event);
      this.line(this.last, next);
      this.last = next;
      this.changed(false);
    });
    const end = () => {
      if (!this.last) return;
      this.last = null;
      this.changed(true);
    };
    this.canvas.addEventListener("pointerup", end);
    this.canvas.addEventListener("pointercancel", end);
    this.draw();
  }
  key(event) {
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const move = moves[event.key];
    if (!move && event.key !== " " && event.key !== "Escape") return;
    event.preventDefault();
    event.stopPropagation();
    this.keyboard = true;
    if (move) {
      const step = (event.shiftKey ? 4 : 1) * (this.n / 28);
      const clip = (v) => Math.max(0, Math.min(this.n - 1, v));
      const next = [clip(this.pen[0] + step * move[0]), clip(this.pen[1] + step * move[1])];
      if (this.penDown) this.line(this.pen, next);
      this.pen = next;
      if (this.penDown) this.changed(false);
      else this.draw();
    } else if (event.key === " " && !this.penDown) {
      this.penDown = true;
      this.stamp(...this.pen);
      this.changed(false);
    } else if (this.penDown) {
      this.lift();
      return;
    }
    this.sayPen();
  }
  lift() {
    this.penDown = false;
    this.changed(true);
    this.sayPen();
  }
  sayPen() {
    const f = 28 / this.n;
    this.onPen(`pen ${this.penDown ? "down (drawing)" : "up"} at column ${Math.floor(this.pen[0] * f) + 1}, row ${Math.floor(this.pen[1] * f) + 1} of 28`);
  }
  stamp(x, y) {
    const r = this.radius, n = this.n;
    for (let i = Math.max(0, Math.floor(y - r - 1)); i <= Math.min(n - 1, Math.ceil(y + r + 1)); i++) {
      for (let j = Math.max(0, Math.floor(x - r - 1)); j <= Math.min(n - 1, Math.ceil(x + r + 1)); j++) {
        const d = Math.hypot(i + 0.5 - y, j + 0.5 - x);
        const v = Math.max(0, Math.min(1, r + 0.5 - d));
        if (v > this.ink[i * n + j]) this.ink[i * n + j] = v;
      }
    }
  }
  line([x0, y0], [x1, y1]) {
    const steps = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) / 1));
    for (let s = 1; s <= steps; s++) this.stamp(x0 + (x1 - x0) * s / steps, y0 + (y1 - y0) * s / steps);
  }
  changed(final) {
    this.draw();
    if (final) {
      this.onStroke(true);
      return;
    }
    if (this.frame) return;
    this.frame = true;
    requestAnimationFrame(() => {
      this.frame = false;
      this.onStroke(false);
    });
  }
  clear() {
    this.ink.fill(0);
    this.draw();
  }
  load(pixels, side) {
    const f = this.n / side;
    for (let i = 0; i < this.n; i++) for (let j = 0; j < this.n; j++) {
      this.ink[i * this.n + j] = pixels[Math.floor(i / f) * side + Math.floor(j / f)];
    }
    this.draw();
  }
  image() {
    return vaeMnistPreprocess(this.ink, this.n);
  }
  draw() {
    const ctx = this.canvas.getContext("2d");
    const data = ctx.createImageData(this.n, this.n);
    for (let p = 0; p < this.n * this.n; p++) {
      const v = Math.round(255 * this.ink[p]);
      data.data[4 * p] = v;
      data.data[4 * p + 1] = v;
      data.data[4 * p + 2] = v;
      data.data[4 * p + 3] = 255;
    }
    ctx.putImageData(data, 0, 0);
    if (this.keyboard) {
      const r = this.radius + 2;
      ctx.strokeStyle = this.penDown ? "#ffd700" : "#4da3ff";
      ctx.lineWidth = 1.5;
      ctx.strokeRect(this.pen[0] - r, this.pen[1] - r, 2 * r, 2 * r);
    }
  }
};

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
function unpackDecoder(spec, weights) {
  const flat = weightsOf(spec, weights);
  const layers = [];
  let offset = 0;
  for (const layer of spec.layers) {
    const nW = layer.n_out * layer.n_in;
    const W = flat.subarray(offset, offset + nW);
    offset += nW;
    const b = flat.subarray(offset, offset + layer.n_out);
    offset += layer.n_out;
    layers.push({
      W,
      b,
      nIn: layer.n_in,
      nOut: layer.n_out,
      act: layer.activation,
      scratch: new Float64Array(layer.n_out)
    });
  }
  if (offset !== flat.length) {
    throw new Error(`vaecourse: decoder spec needs ${offset} floats, the buffer holds ${flat.length}`);
  }
  const dataDim = spec.data_shape.reduce((a, b) => a * b, 1);
  if (layers.length === 0 || layers[0].nIn !== spec.latent_dim || layers[layers.length - 1].nOut !== dataDim) {
    throw new Error("vaecourse: decoder spec does not map latent_dim to prod(data_shape)");
  }
  return {
    layers,
    latentDim: spec.latent_dim,
    dataDim,
    dataShape: spec.data_shape,
    output: spec.output,
    input: new Float64Array(spec.latent_dim)
  };
}
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
function decodeInto(decoder, h, out) {
  let input = decoder.input;
  for (let i = 0; i < decoder.latentDim; i++) input[i] = h[i];
  for (const layer of decoder.layers) input = vaeDenseOne(layer, input, layer.scratch);
  const n = decoder.dataDim;
  if (decoder.output === "sigmoid") {
    for (let j = 0; j < n; j++) out[j] = 1 / (1 + Math.exp(-input[j]));
  } else {
    for (let j = 0; j < n; j++) out[j] = input[j];
  }
  return out;
}
function decodeBatch(decoder, hs, n) {
  const k = decoder.latentDim;
  const D = decoder.dataDim;
  const result = new Float64Array(n * D);
  for (let p = 0; p < n; p++) {
    const h = Array.prototype.slice.call(hs, p * k, (p + 1) * k);
    decodeInto(decoder, h, result.subarray(p * D, (p + 1) * D));
  }
  return result;
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

// bundles/posterior_worker.js
var posterior_worker_default = '// Generated from vaecourse/js/src/ by esbuild-wasm@0.28.2 (make bundles): edit the sources, not this file.\n(() => {\n  // src/buffers.js\n  function asTyped(value, Type) {\n    if (value instanceof Type) return value;\n    if (ArrayBuffer.isView(value)) {\n      return new Type(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));\n    }\n    if (value instanceof ArrayBuffer) return new Type(value.slice(0));\n    if (Array.isArray(value)) return Type.from(value);\n    return null;\n  }\n  function asFloat32(value) {\n    const floats = asTyped(value, Float32Array);\n    if (floats) return floats;\n    throw new Error("vaecourse: decoder weights must be bytes or an array, got " + typeof value);\n  }\n  function asUint8(value) {\n    const bytes = asTyped(value, Uint8Array);\n    if (bytes) return bytes;\n    return new Uint8Array(0);\n  }\n  var HALF_TABLE = null;\n  function fromFloat16(value) {\n    if (!HALF_TABLE) {\n      HALF_TABLE = new Float32Array(65536);\n      for (let h = 0; h < 65536; h++) {\n        const sign = h & 32768 ? -1 : 1, exponent = h >> 10 & 31, fraction = h & 1023;\n        HALF_TABLE[h] = exponent === 0 ? sign * fraction * 2 ** -24 : exponent === 31 ? fraction ? NaN : sign * Infinity : sign * (1 + fraction / 1024) * 2 ** (exponent - 15);\n      }\n    }\n    let bytes = asUint8(value);\n    if (bytes.byteOffset % 2) bytes = bytes.slice();\n    const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);\n    const out = new Float32Array(halves.length);\n    for (let i = 0; i < halves.length; i++) out[i] = HALF_TABLE[halves[i]];\n    return out;\n  }\n  function weightsOf(spec, weights) {\n    return spec.dtype === "float16" ? fromFloat16(weights) : asFloat32(weights);\n  }\n\n  // src/mlp_decoder.js\n  function unpackDecoder(spec, weights) {\n    const flat = weightsOf(spec, weights);\n    const layers = [];\n    let offset = 0;\n    for (const layer of spec.layers) {\n      const nW = layer.n_out * layer.n_in;\n      const W = flat.subarray(offset, offset + nW);\n      offset += nW;\n      const b = flat.subarray(offset, offset + layer.n_out);\n      offset += layer.n_out;\n      layers.push({\n        W,\n        b,\n        nIn: layer.n_in,\n        nOut: layer.n_out,\n        act: layer.activation,\n        scratch: new Float64Array(layer.n_out)\n      });\n    }\n    if (offset !== flat.length) {\n      throw new Error(`vaecourse: decoder spec needs ${offset} floats, the buffer holds ${flat.length}`);\n    }\n    const dataDim = spec.data_shape.reduce((a, b) => a * b, 1);\n    if (layers.length === 0 || layers[0].nIn !== spec.latent_dim || layers[layers.length - 1].nOut !== dataDim) {\n      throw new Error("vaecourse: decoder spec does not map latent_dim to prod(data_shape)");\n    }\n    return {\n      layers,\n      latentDim: spec.latent_dim,\n      dataDim,\n      dataShape: spec.data_shape,\n      output: spec.output,\n      input: new Float64Array(spec.latent_dim)\n    };\n  }\n\n  // src/posterior_numerics.js\n  var VAE_LOG_2PI = Math.log(2 * Math.PI);\n  function vaeDenseBatch(layer, X, n, Y) {\n    const { W, b, nIn, nOut, act } = layer;\n    const relu = act === "relu", tanh = act === "tanh";\n    const finish = (s) => relu ? s > 0 ? s : 0 : tanh ? Math.tanh(s) : s;\n    let p = 0;\n    for (; p + 4 <= n; p += 4) {\n      const x0 = p * nIn, x1 = x0 + nIn, x2 = x1 + nIn, x3 = x2 + nIn;\n      const y0 = p * nOut, y1 = y0 + nOut, y2 = y1 + nOut, y3 = y2 + nOut;\n      let o = 0;\n      for (; o + 2 <= nOut; o += 2) {\n        const r0 = o * nIn, r1 = r0 + nIn;\n        let a0 = 0, a1 = 0, a2 = 0, a3 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0;\n        for (let i = 0; i < nIn; i++) {\n          const w = W[r0 + i], v = W[r1 + i];\n          const u0 = X[x0 + i], u1 = X[x1 + i], u2 = X[x2 + i], u3 = X[x3 + i];\n          a0 += w * u0;\n          a1 += w * u1;\n          a2 += w * u2;\n          a3 += w * u3;\n          c0 += v * u0;\n          c1 += v * u1;\n          c2 += v * u2;\n          c3 += v * u3;\n        }\n        const b0 = b[o], b1 = b[o + 1];\n        Y[y0 + o] = finish(a0 + b0);\n        Y[y1 + o] = finish(a1 + b0);\n        Y[y2 + o] = finish(a2 + b0);\n        Y[y3 + o] = finish(a3 + b0);\n        Y[y0 + o + 1] = finish(c0 + b1);\n        Y[y1 + o + 1] = finish(c1 + b1);\n        Y[y2 + o + 1] = finish(c2 + b1);\n        Y[y3 + o + 1] = finish(c3 + b1);\n      }\n      for (; o < nOut; o++) {\n        const r0 = o * nIn;\n        for (const [xi, yi] of [[x0, y0], [x1, y1], [x2, y2], [x3, y3]]) {\n          let s = 0;\n          for (let i = 0; i < nIn; i++) s += W[r0 + i] * X[xi + i];\n          Y[yi + o] = finish(s + b[o]);\n        }\n      }\n    }\n    for (; p < n; p++) {\n      for (let o = 0; o < nOut; o++) {\n        let s = 0;\n        for (let i = 0; i < nIn; i++) s += W[o * nIn + i] * X[p * nIn + i];\n        Y[p * nOut + o] = finish(s + b[o]);\n      }\n    }\n    return Y;\n  }\n  function vaeLogLikelihoodBatch(decoder2, x, H, n) {\n    if (decoder2.output !== "sigmoid") throw new Error("vaecourse: the posterior pad needs a Bernoulli (sigmoid) decoder");\n    const k = decoder2.latentDim, D = decoder2.dataDim, block = 64;\n    const out = new Float64Array(n);\n    if (!decoder2.batchScratch) {\n      const widest = Math.max(...decoder2.layers.map((l) => l.nOut));\n      decoder2.batchScratch = [new Float32Array(block * widest), new Float32Array(block * widest)];\n    }\n    let [A, B] = decoder2.batchScratch;\n    for (let start = 0; start < n; start += block) {\n      const m = Math.min(block, n - start);\n      let input = H.subarray(start * k, (start + m) * k);\n      for (const layer of decoder2.layers) {\n        vaeDenseBatch(layer, input, m, A);\n        input = A;\n        [A, B] = [B, A];\n      }\n      for (let p = 0; p < m; p++) {\n        let s = 0;\n        const row = p * D;\n        for (let d = 0; d < D; d++) {\n          const l = input[row + d];\n          s += x[d] * l - (l > 0 ? l + Math.log1p(Math.exp(-l)) : Math.log1p(Math.exp(l)));\n        }\n        out[start + p] = s;\n      }\n    }\n    return out;\n  }\n\n  // src/posterior_worker.js\n  var decoder = null;\n  self.onmessage = (event) => {\n    const message = event.data;\n    try {\n      if (message.type === "init") {\n        decoder = unpackDecoder(message.spec, message.weights);\n      } else if (message.type === "piece") {\n        const logLik = vaeLogLikelihoodBatch(decoder, message.x, message.H, message.n);\n        self.postMessage({ type: "piece", job: message.job, offset: message.offset, logLik }, [logLik.buffer]);\n      }\n    } catch (error) {\n      self.postMessage({ type: "error", job: message.job, message: String(error && error.stack || error) });\n    }\n  };\n})();\n';

// src/posterior_numerics.js
var VAE_LOG_2PI = Math.log(2 * Math.PI);
function vaeDenseBatch(layer, X, n, Y) {
  const { W, b, nIn, nOut, act } = layer;
  const relu = act === "relu", tanh = act === "tanh";
  const finish = (s) => relu ? s > 0 ? s : 0 : tanh ? Math.tanh(s) : s;
  let p = 0;
  for (; p + 4 <= n; p += 4) {
    const x0 = p * nIn, x1 = x0 + nIn, x2 = x1 + nIn, x3 = x2 + nIn;
    const y0 = p * nOut, y1 = y0 + nOut, y2 = y1 + nOut, y3 = y2 + nOut;
    let o = 0;
    for (; o + 2 <= nOut; o += 2) {
      const r0 = o * nIn, r1 = r0 + nIn;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      for (let i = 0; i < nIn; i++) {
        const w = W[r0 + i], v = W[r1 + i];
        const u0 = X[x0 + i], u1 = X[x1 + i], u2 = X[x2 + i], u3 = X[x3 + i];
        a0 += w * u0;
        a1 += w * u1;
        a2 += w * u2;
        a3 += w * u3;
        c0 += v * u0;
        c1 += v * u1;
        c2 += v * u2;
        c3 += v * u3;
      }
      const b0 = b[o], b1 = b[o + 1];
      Y[y0 + o] = finish(a0 + b0);
      Y[y1 + o] = finish(a1 + b0);
      Y[y2 + o] = finish(a2 + b0);
      Y[y3 + o] = finish(a3 + b0);
      Y[y0 + o + 1] = finish(c0 + b1);
      Y[y1 + o + 1] = finish(c1 + b1);
      Y[y2 + o + 1] = finish(c2 + b1);
      Y[y3 + o + 1] = finish(c3 + b1);
    }
    for (; o < nOut; o++) {
      const r0 = o * nIn;
      for (const [xi, yi] of [[x0, y0], [x1, y1], [x2, y2], [x3, y3]]) {
        let s = 0;
        for (let i = 0; i < nIn; i++) s += W[r0 + i] * X[xi + i];
        Y[yi + o] = finish(s + b[o]);
      }
    }
  }
  for (; p < n; p++) {
    for (let o = 0; o < nOut; o++) {
      let s = 0;
      for (let i = 0; i < nIn; i++) s += W[o * nIn + i] * X[p * nIn + i];
      Y[p * nOut + o] = finish(s + b[o]);
    }
  }
  return Y;
}
function vaeLogLikelihoodBatch(decoder, x, H, n) {
  if (decoder.output !== "sigmoid") throw new Error("vaecourse: the posterior pad needs a Bernoulli (sigmoid) decoder");
  const k = decoder.latentDim, D = decoder.dataDim, block = 64;
  const out = new Float64Array(n);
  if (!decoder.batchScratch) {
    const widest = Math.max(...decoder.layers.map((l) => l.nOut));
    decoder.batchScratch = [new Float32Array(block * widest), new Float32Array(block * widest)];
  }
  let [A, B] = decoder.batchScratch;
  for (let start = 0; start < n; start += block) {
    const m = Math.min(block, n - start);
    let input = H.subarray(start * k, (start + m) * k);
    for (const layer of decoder.layers) {
      vaeDenseBatch(layer, input, m, A);
      input = A;
      [A, B] = [B, A];
    }
    for (let p = 0; p < m; p++) {
      let s = 0;
      const row = p * D;
      for (let d = 0; d < D; d++) {
        const l = input[row + d];
        s += x[d] * l - (l > 0 ? l + Math.log1p(Math.exp(-l)) : Math.log1p(Math.exp(l)));
      }
      out[start + p] = s;
    }
  }
  return out;
}
function vaeRandom(seed) {
  let a = seed >>> 0;
  const uniform = () => {
    a = a + 1831565813 >>> 0;
    let t = a;
    t = Math.imul(t ^ t >>> 15, t | 1);
    t ^= t + Math.imul(t ^ t >>> 7, t | 61);
    return (((t ^ t >>> 14) >>> 0) + 0.5) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}
function vaeLogSumExp(values) {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  if (max === -Infinity) return -Infinity;
  let s = 0;
  for (const v of values) s += Math.exp(v - max);
  return max + Math.log(s);
}
function vaeMeanAndError(values) {
  const n = values.length;
  let mean = 0;
  for (const v of values) mean += v / n;
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  return [mean, n > 1 ? Math.sqrt(ss / (n - 1) / n) : NaN];
}
function vaeLogGaussian(h, mu, sigma) {
  let s = 0;
  for (let d = 0; d < mu.length; d++) {
    const z = (h[d] - mu[d]) / sigma[d];
    s += -0.5 * z * z - Math.log(sigma[d]) - 0.5 * VAE_LOG_2PI;
  }
  return s;
}
function vaeGridAxes(centre, halfWidth, G) {
  const axis1 = new Float64Array(G), axis2 = new Float64Array(G);
  for (let i = 0; i < G; i++) {
    axis1[i] = centre[0] + halfWidth[0] * (-1 + 2 * i / (G - 1));
    axis2[i] = centre[1] + halfWidth[1] * (-1 + 2 * i / (G - 1));
  }
  const H = new Float32Array(G * G * 2);
  for (let i = 0; i < G; i++) for (let j = 0; j < G; j++) {
    H[2 * (i * G + j)] = axis1[i];
    H[2 * (i * G + j) + 1] = axis2[j];
  }
  return { axis1, axis2, halfWidth, G, H };
}
function vaeGridPosterior(axes, logLik) {
  const { axis1, axis2, G } = axes;
  const logJoint = new Float64Array(G * G);
  for (let i = 0; i < G; i++) for (let j = 0; j < G; j++) {
    const p = i * G + j, a = axis1[i], b = axis2[j];
    logJoint[p] = logLik[p] - 0.5 * (a * a + b * b) - VAE_LOG_2PI;
  }
  const spacing = [axis1[1] - axis1[0], axis2[1] - axis2[0]];
  const cell = spacing[0] * spacing[1];
  const logPx = vaeLogSumExp(logJoint) + Math.log(cell);
  const logPost = logJoint.map((v) => v - logPx);
  let edge = 0, m1 = 0, m2 = 0, v1 = 0, v2 = 0;
  for (let i = 0; i < G; i++) for (let j = 0; j < G; j++) {
    const w = Math.exp(logPost[i * G + j]) * cell;
    if (i === 0 || j === 0 || i === G - 1 || j === G - 1) edge += w;
    m1 += w * axis1[i];
    m2 += w * axis2[j];
    v1 += w * axis1[i] ** 2;
    v2 += w * axis2[j] ** 2;
  }
  const std = [Math.sqrt(Math.max(v1 - m1 * m1, 0)), Math.sqrt(Math.max(v2 - m2 * m2, 0))];
  return { axis1, axis2, logJoint, logPost, logPx, cell, spacing, edge, mean: [m1, m2], std, halfWidth: axes.halfWidth };
}
function vaeNextWindow(grid, rule) {
  if (grid.edge > rule.edge_mass) return grid.halfWidth.map((w) => rule.widen_factor * w);
  if (grid.std[0] < rule.shift_cells * grid.spacing[0] || grid.std[1] < rule.shift_cells * grid.spacing[1]) {
    return grid.std.map((s, d) => Math.max(rule.half_sigmas * s, grid.spacing[d]));
  }
  return null;
}
function vaeUsePosteriorGrid(result, grid, qTerm) {
  result.logPx = grid.logPx;
  result.gap = grid.logPx - result.elbo;
  result.klGrid = qTerm + grid.logPx * result.qMass;
  result.edge = grid.edge;
  result.halfWidth = grid.halfWidth;
  result.axis1 = Array.from(grid.axis1);
  result.axis2 = Array.from(grid.axis2);
  result.logPost = Float32Array.from(grid.logPost);
}
async function vaePosterior(logLikelihood, encoder, x, options, onFirst) {
  const rule = options.rule;
  if (!rule || !(rule.grid >= 3)) throw new Error("vaePosterior: options.rule must be PosteriorPad.window_rule");
  const t0 = performance.now();
  const { mu, sigma } = encodeQ(encoder, x);
  const G = rule.grid, S = options.samples, k = mu.length;
  const qAxes = vaeGridAxes(mu, [rule.half_sigmas * sigma[0], rule.half_sigmas * sigma[1]], G);
  const rng = vaeRandom(options.seed);
  const points = new Float32Array((G * G + S) * k);
  points.set(qAxes.H);
  const H = points.subarray(G * G * k);
  for (let s = 0; s < S; s++) for (let d = 0; d < k; d++) H[s * k + d] = mu[d] + sigma[d] * rng.normal();
  const both = await logLikelihood(points, G * G + S);
  const qGrid = vaeGridPosterior(qAxes, both.subarray(0, G * G));
  const logLik = both.subarray(G * G);
  const logW = new Float64Array(S);
  for (let s = 0; s < S; s++) {
    const h = H.subarray(s * k, (s + 1) * k);
    let prior = 0;
    for (let d = 0; d < k; d++) prior += -0.5 * h[d] * h[d] - 0.5 * VAE_LOG_2PI;
    logW[s] = logLik[s] + prior - vaeLogGaussian(h, mu, sigma);
  }
  let klPrior = 0;
  for (let d = 0; d < k; d++) klPrior += 0.5 * (mu[d] * mu[d] + sigma[d] * sigma[d] - 1 - 2 * Math.log(sigma[d]));
  const [reconstruction, reconstructionError] = vaeMeanAndError(logLik);
  const iwae = {};
  for (let K = 1; K <= S; K *= 2) {
    const groups = [];
    for (let g = 0; g + K <= S; g += K) groups.push(vaeLogSumExp(logW.subarray(g, g + K)) - Math.log(K));
    const [value, error] = vaeMeanAndError(groups);
    iwae[K] = { value, error, groups: groups.length };
  }
  let qMass = 0, qTerm = 0;
  for (let i = 0; i < G; i++) for (let j = 0; j < G; j++) {
    const logQ = vaeLogGaussian([qGrid.axis1[i], qGrid.axis2[j]], mu, sigma);
    const q = Math.exp(logQ) * qGrid.cell;
    qMass += q;
    qTerm += q * (logQ - qGrid.logJoint[i * G + j]);
  }
  const elbo = reconstruction - klPrior;
  const result = {
    mu: Array.from(mu),
    sigma: Array.from(sigma),
    elbo,
    elboError: reconstructionError,
    reconstruction,
    klPrior,
    iwae,
    qMass,
    gridSize: G,
    samples: S,
    seed: options.seed,
    decodes: G * G + S,
    widened: 0,
    final: false
  };
  vaeUsePosteriorGrid(result, qGrid, qTerm);
  result.ms = { first: performance.now() - t0, total: performance.now() - t0 };
  if (onFirst) onFirst(Object.assign({}, result));
  let grid = qGrid, steps = 0;
  while (steps < rule.max_steps) {
    const half = vaeNextWindow(grid, rule);
    if (!half) break;
    const axes = vaeGridAxes(grid.mean, half, G);
    grid = vaeGridPosterior(axes, await logLikelihood(axes.H, G * G));
    steps += 1;
  }
  const final = Object.assign({}, result, { widened: steps, final: true, decodes: G * G + S + steps * G * G });
  vaeUsePosteriorGrid(final, grid, qTerm);
  final.ms = { first: result.ms.first, total: performance.now() - t0 };
  return final;
}
function vaePosteriorNumbers(decoder, encoder, x, options) {
  return vaePosterior((H, n) => vaeLogLikelihoodBatch(decoder, x, H, n), encoder, x, options);
}

// src/posterior_engine.js
var VAE_PIECE = 16;
var VAE_AHEAD = 2;
var VaeSuperseded = class extends Error {
};
function vaeWorkerCount() {
  const cores = typeof navigator !== "undefined" && navigator.hardwareConcurrency || 2;
  return Math.max(1, Math.min(4, cores));
}
var VaePosteriorEngine = class {
  // request(x, options, onResult): onResult(result) is called with the numbers on Q's grid, then with
  // the final numbers (result.final true); a newer request supersedes an older one.
  constructor(decoderSpec, decoderWeights, encoderSpec, encoderWeights, workers = vaeWorkerCount()) {
    this.decoder = unpackDecoder(decoderSpec, decoderWeights);
    this.encoder = unpackEncoder(encoderSpec, encoderWeights);
    this.workers = [];
    this.current = 0;
    this.job = null;
    this.serial = 0;
    try {
      const url = URL.createObjectURL(new Blob([posterior_worker_default], { type: "text/javascript" }));
      for (let w = 0; w < workers; w++) {
        const worker = new Worker(url);
        const slot = { worker, busy: 0 };
        worker.onmessage = (event) => this.receive(slot, event.data);
        worker.onerror = (event) => this.fail(`a posterior worker failed (${event.message})`);
        worker.postMessage({ type: "init", spec: decoderSpec, weights: asUint8(decoderWeights) });
        this.workers.push(slot);
      }
      URL.revokeObjectURL(url);
    } catch (error) {
      this.stop();
    }
  }
  get worker() {
    return this.workers.length > 0;
  }
  stop() {
    for (const slot of this.workers) slot.worker.terminate();
    this.workers = [];
  }
  fail(why) {
    console.warn(`vaecourse: ${why}; computing on the page`);
    this.stop();
    if (this.job) {
      const { job } = this;
      this.job = null;
      job.resolve(vaeLogLikelihoodBatch(this.decoder, job.x, job.H, job.n));
    }
  }
  logLikelihood(request, x, H, n) {
    if (request !== this.current) return Promise.reject(new VaeSuperseded());
    if (!this.worker) return vaeLogLikelihoodBatch(this.decoder, x, H, n);
    return new Promise((resolve, reject) => {
      const k = this.decoder.latentDim;
      const count = Math.ceil(Math.ceil(n / VAE_PIECE) / this.workers.length) * this.workers.length;
      const size = Math.ceil(n / count), pieces = [];
      for (let offset = 0; offset < n; offset += size) {
        const m = Math.min(size, n - offset);
        pieces.push({ offset, n: m, H: H.slice(offset * k, (offset + m) * k) });
      }
      this.job = {
        request,
        serial: ++this.serial,
        pieces,
        waiting: pieces.length,
        out: new Float64Array(n),
        x: Float32Array.from(x),
        H,
        n,
        resolve,
        reject
      };
      this.dispatch();
    });
  }
  dispatch() {
    const job = this.job;
    for (const slot of this.workers) {
      while (job && job.pieces.length > 0 && slot.busy < VAE_AHEAD) {
        const piece = job.pieces.shift();
        slot.busy += 1;
        slot.worker.postMessage(
          { type: "piece", job: job.serial, offset: piece.offset, n: piece.n, H: piece.H, x: job.x },
          [piece.H.buffer]
        );
      }
    }
  }
  receive(slot, message) {
    slot.busy -= 1;
    const job = this.job;
    if (message.type === "error") {
      console.error("vaecourse: posterior pad computation failed", message.message);
      if (job && job.serial === message.job) {
        this.job = null;
        job.reject(new Error(message.message));
      }
    } else if (job && job.serial === message.job) {
      job.out.set(message.logLik, message.offset);
      job.waiting -= 1;
      if (job.waiting === 0) {
        this.job = null;
        job.resolve(job.out);
      }
    }
    this.dispatch();
  }
  request(x, options, onResult) {
    const id = ++this.current;
    if (this.job) {
      const old = this.job;
      this.job = null;
      old.reject(new VaeSuperseded());
    }
    const evaluate = (H, n) => this.logLikelihood(id, x, H, n);
    const first = (result) => {
      if (id === this.current) onResult(result);
    };
    vaePosterior(evaluate, this.encoder, x, options, first).then(
      (result) => {
        if (id === this.current) onResult(result);
      },
      (error) => {
        if (!(error instanceof VaeSuperseded)) console.error("vaecourse: posterior pad computation failed", error);
      }
    );
  }
};

// src/posterior_pad.js
function vaeEllipse(ctx, cx, cy, rx, ry, style, width) {
  ctx.strokeStyle = style;
  ctx.lineWidth = width;
  ctx.beginPath();
  ctx.ellipse(cx, cy, Math.max(rx, 0.5), Math.max(ry, 0.5), 0, 0, 2 * Math.PI);
  ctx.stroke();
}
function vaeDrawPosteriorPanel(canvas, result) {
  const G = result.gridSize, size = canvas.width;
  const small = document.createElement("canvas");
  small.width = G;
  small.height = G;
  const sctx = small.getContext("2d");
  const image = paintHeatmap(sctx.createImageData(G, G), result.logPost, G);
  sctx.putImageData(image, 0, 0);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(small, 0, 0, size, size);
  const [a1, b1] = [result.axis1[0], result.axis1[G - 1]], [a2, b2] = [result.axis2[0], result.axis2[G - 1]];
  const span = size - size / G, off = size / (2 * G);
  const px = (h) => off + (h - a1) / (b1 - a1) * span, py = (h) => size - off - (h - a2) / (b2 - a2) * span;
  const [m1, m2] = result.mu, [s1, s2] = result.sigma;
  for (const n of [1, 2]) {
    vaeEllipse(ctx, px(m1), py(m2), n * s1 * span / (b1 - a1), n * s2 * span / (b2 - a2), "#ffffff", n === 1 ? 2 : 1);
  }
  ctx.fillStyle = "#ffffff";
  ctx.font = "11px sans-serif";
  ctx.fillText(`h\u2081 ${a1.toFixed(2)} .. ${b1.toFixed(2)}`, 4, size - 4);
  ctx.fillText(`h\u2082 ${a2.toFixed(2)} .. ${b2.toFixed(2)}`, 4, 13);
}
function vaeDrawBounds(canvas, result, K) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, w, h);
  const iw = result.iwae[K];
  const values = [result.elbo - 2 * result.elboError, result.logPx, iw.value, result.elbo];
  let lo = Math.min(...values), hi = Math.max(...values);
  const pad = Math.max(0.5, 0.15 * (hi - lo));
  lo -= pad;
  hi += pad;
  const x = (v) => 20 + (v - lo) / (hi - lo) * (w - 40);
  ctx.strokeStyle = "#999";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(20, h / 2);
  ctx.lineTo(w - 20, h / 2);
  ctx.stroke();
  ctx.font = "11px sans-serif";
  ctx.textAlign = "center";
  const mark = (v, colour, label, row) => {
    ctx.strokeStyle = colour;
    ctx.lineWidth = 3;
    ctx.beginPath();
    ctx.moveTo(x(v), h / 2 - 10);
    ctx.lineTo(x(v), h / 2 + 10);
    ctx.stroke();
    ctx.fillStyle = colour;
    ctx.fillText(label, x(v), row);
  };
  ctx.strokeStyle = "#1f77b4";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(x(result.elbo - 2 * result.elboError), h / 2);
  ctx.lineTo(x(result.elbo + 2 * result.elboError), h / 2);
  ctx.stroke();
  mark(result.elbo, "#1f77b4", "ELBO", 12);
  mark(iw.value, "#ff7f0e", `IWAE K=${K}`, h - 4);
  mark(result.logPx, "#2ca02c", "log p(x)", 12);
}
function windowOptions(model) {
  return { rule: model.get("window_rule") };
}
async function renderPosteriorPad({ model, el }) {
  const decoderModel = await referencedModel(model, "decoder"), encoderModel = await referencedModel(model, "encoder");
  const engine = new VaePosteriorEngine(
    decoderModel.get("spec"),
    decoderModel.get("weights"),
    encoderModel.get("spec"),
    encoderModel.get("weights")
  );
  const D = engine.decoder.dataDim, side = Math.round(Math.sqrt(D));
  const images = asUint8(model.get("images"));
  const names = model.get("image_names");
  const labels = asUint8(model.get("labels"));
  el.classList.add("vae-widget", "vae-posterior-pad");
  const top = vaeElement("div", "vae-row");
  const padBox = vaeElement("div", "vae-column");
  const penStatus = vaeLiveRegion("vae-pen");
  const pad = new VaeDrawingPad(196, (final) => fromPad(final), (text) => {
    penStatus.textContent = text;
  });
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
  const inputBox = vaeElement("div", "vae-column");
  const inputCanvas = vaeImageCanvas([side, side], 112, "the input x the encoder sees (28 x 28)");
  inputBox.append(vaeElement("div", "vae-caption", "the input x"), inputCanvas);
  const plane = new VaePlane(
    model.get("plane_size"),
    model.get("limit"),
    asFloat32(model.get("points")),
    labels,
    ["h\u2081", "h\u2082"],
    model.get("label_names")
  );
  plane.canvas.setAttribute("role", "img");
  plane.canvas.setAttribute("aria-label", "latent plane: encoded test images and Q(h|x) of the input");
  const planeBox = vaeElement("div", "vae-column");
  planeBox.append(
    vaeElement("div", "vae-caption", "Q(h|x) over the encoded test images"),
    plane.canvas,
    vaeLegend(model.get("label_names"), labels)
  );
  const postBox = vaeElement("div", "vae-column");
  const post = vaeElement("canvas", "vae-posterior-grid");
  post.width = 240;
  post.height = 240;
  post.setAttribute("role", "img");
  post.setAttribute("aria-label", "the true posterior p(h|x) on a local grid, with Q's 1 and 2 sigma ellipses");
  postBox.append(vaeElement("div", "vae-caption", "true posterior p(h|x), zoomed; white: Q"), post);
  top.append(padBox, inputBox, planeBox, postBox);
  const bottom = vaeElement("div", "vae-row");
  const table = vaeElement("table", "vae-numbers");
  const rows = {};
  for (const [key, label] of [
    ["logpx", "log p(x), quadrature on the grid"],
    ["elbo", "ELBO (closed-form KL + MC)"],
    ["iwae", "IWAE bound L_K"],
    ["gap", "gap log p(x) - ELBO"],
    ["kl", "D[Q || p(h|x)] on the grid"],
    ["mass", "Q's probability on the grid"],
    ["q", "Q: mean, std"]
  ]) {
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
  bounds.width = 420;
  bounds.height = 54;
  bounds.setAttribute("role", "img");
  bounds.setAttribute("aria-label", "number line: ELBO, IWAE bound and log p(x)");
  const timing = vaeElement("div", "vae-timing");
  side2.append(kRow, bounds, timing);
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
    rows.elbo.textContent = `${nats(r.elbo)} \xB1 ${r.elboError.toFixed(2)}`;
    rows.iwae.textContent = `K = ${K}: ${nats(iw.value)}` + (iw.groups > 1 ? ` \xB1 ${iw.error.toFixed(2)}` : "");
    rows.gap.textContent = `${nats(r.gap)} \xB1 ${r.elboError.toFixed(2)}`;
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
    live.textContent = `${what || source}: Q mean (${vaeSigned(r.mu[0])}, ${vaeSigned(r.mu[1])}), std (${r.sigma[0].toFixed(3)}, ${r.sigma[1].toFixed(3)}); log p(x) ${nats(r.logPx)}; ELBO ${nats(r.elbo)}; IWAE bound with K = ${K}: ${nats(r.iwae[K].value)}; gap log p(x) minus ELBO ${nats(r.gap)}; D[Q || p(h|x)] ${nats(r.klGrid)}.`;
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
    ctx.beginPath();
    ctx.arc(cx, cy, 2.5, 0, 2 * Math.PI);
    ctx.fill();
    vaeDrawPosteriorPanel(post, result);
    showNumbers();
    const ms = performance.now() - started;
    updates += 1;
    timing.textContent = (result.final ? `last update ${ms.toFixed(0)} ms` : `first numbers after ${ms.toFixed(0)} ms; following the posterior ...`) + ` (${result.decodes} decoder passes, computed in ${result.ms.total.toFixed(0)} ms ${engine.worker ? `by ${engine.workers.length} Web Worker${engine.workers.length > 1 ? "s" : ""}` : "on the page"})`;
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
  let stroking = false, waiting = null;
  function update(x, final) {
    vaeDrawImage(inputCanvas, x);
    if (!final && stroking) {
      waiting = x;
      return;
    }
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
      el.dataset.answered = String(id);
      if (!final) return;
      const bytes = Uint8Array.from(x, (v) => Math.round(255 * v));
      model.set("x", new DataView(bytes.buffer));
      model.set("browser", {
        log_px: result.logPx,
        elbo: result.elbo,
        elbo_error: result.elboError,
        kl_grid: result.klGrid,
        gap: result.gap,
        q_mass: result.qMass,
        mu: result.mu,
        sigma: result.sigma,
        iwae: Object.fromEntries(Object.entries(result.iwae).map(([K, v]) => [K, v.value])),
        ms: result.ms.total
      });
      vaeSave(model);
    });
  }
  const prepared = (pixels) => binarize.checked ? pixels.map((v) => v >= 0.5 ? 1 : 0) : pixels;
  let raw = null;
  function fromPad(final) {
    const image = pad.image();
    if (!image) return;
    select.value = "-1";
    shown = null;
    raw = image;
    update(prepared(raw), final);
  }
  let shown = null;
  function fromIndex() {
    const index = model.get("index");
    select.value = String(index);
    if (index < 0 || index === shown) return;
    shown = index;
    raw = Float32Array.from(images.subarray(index * D, (index + 1) * D), (v) => v / 255);
    pad.load(raw, side);
    update(prepared(raw), true);
  }
  clear.addEventListener("click", () => {
    pad.clear();
  });
  select.addEventListener("change", () => {
    model.set("index", Number(select.value));
    vaeSave(model);
    fromIndex();
  });
  binarize.addEventListener("change", () => {
    model.set("binarize", binarize.checked);
    vaeSave(model);
    if (raw) update(prepared(raw), true);
  });
  kSlider.addEventListener("input", () => {
    model.set("k", 2 ** Number(kSlider.value));
    kSlider.setAttribute("aria-valuetext", `K = ${model.get("k")}`);
    vaeSave(model);
    showNumbers();
    say(`IWAE samples K = ${2 ** Number(kSlider.value)}`);
  });
  const onK = () => {
    kSlider.value = String(Math.round(Math.log2(model.get("k"))));
    kSlider.setAttribute("aria-valuetext", `K = ${model.get("k")}`);
    showNumbers();
  };
  const onIndex = () => fromIndex();
  const onBinarize = () => {
    if (binarize.checked === model.get("binarize")) return;
    binarize.checked = model.get("binarize");
    if (raw) update(prepared(raw), true);
  };
  model.on("change:k", onK);
  model.on("change:index", onIndex);
  model.on("change:binarize", onBinarize);
  binarize.checked = model.get("binarize");
  kSlider.value = String(Math.round(Math.log2(model.get("k"))));
  kSlider.setAttribute("aria-valuetext", `K = ${model.get("k")}`);
  plane.draw(null);
  fromIndex();
  return () => {
    model.off("change:k", onK);
    model.off("change:index", onIndex);
    model.off("change:binarize", onBinarize);
    engine.stop();
  };
}
var posterior_pad_default = { render: renderPosteriorPad };
export {
  VaePosteriorEngine,
  decodeBatch,
  decodeInto,
  posterior_pad_default as default,
  encodeQ,
  fromFloat16,
  unpackDecoder,
  unpackEncoder,
  vaeLogLikelihoodBatch,
  vaeMnistPreprocess,
  vaePosterior,
  vaePosteriorNumbers
};
