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
function vaeLiveRegion(className) {
  const region = vaeElement("div", `vae-live ${className || ""}`.trim());
  region.setAttribute("role", "status");
  region.setAttribute("aria-live", "polite");
  region.setAttribute("aria-atomic", "true");
  return region;
}
function vaeMeanIntensity(pixels) {
  let sum = 0;
  for (const v of pixels) sum += Math.min(1, Math.max(0, v));
  return pixels.length ? sum / pixels.length : 0;
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
async function vaeLoadDecoder(model) {
  const holder = await referencedModel(model, "decoder");
  return unpackDecoder(holder.get("spec"), holder.get("weights"));
}

// src/interpolation.js
async function renderInterpolation({ model, el }) {
  const decoder = await vaeLoadDecoder(model);
  const k = decoder.latentDim;
  const D = decoder.dataDim;
  const images = asUint8(model.get("images"));
  const codes = asFloat32(model.get("codes"));
  const names = model.get("image_names");
  const steps = model.get("steps");
  const size = model.get("image_size");
  el.classList.add("vae-widget", "vae-interpolation");
  const choose = (which) => {
    const select = vaeElement("select", `vae-select vae-select-${which}`);
    select.setAttribute("aria-label", `test image ${which.toUpperCase()}`);
    names.forEach((name, i) => select.append(new Option(name, String(i))));
    return select;
  };
  const selectA = choose("a");
  const selectB = choose("b");
  const imageA = vaeImageCanvas(decoder.dataShape, size / 2, "test image A");
  const imageB = vaeImageCanvas(decoder.dataShape, size / 2, "test image B");
  const slider = vaeElement("input", "vae-slider vae-t");
  Object.assign(slider, { type: "range", min: 0, max: 1, step: 0.01 });
  slider.setAttribute("aria-label", "interpolation parameter t");
  const current = vaeImageCanvas(decoder.dataShape, size, "decoded image at t");
  const readout = vaeElement("div", "vae-readout");
  const live = vaeLiveRegion();
  const strip = vaeElement("div", "vae-strip");
  const stripCanvases = [];
  for (let s = 0; s <= steps; s++) {
    const c = vaeImageCanvas(decoder.dataShape, size / 3, `decoded image at t = ${(s / steps).toFixed(2)}`);
    strip.append(c);
    stripCanvases.push(c);
  }
  const top = vaeElement("div", "vae-row");
  const pick = (label, select, img) => {
    const box = vaeElement("div", "vae-column");
    box.append(vaeElement("div", "vae-caption", label), select, img);
    return box;
  };
  const middle = vaeElement("div", "vae-column");
  middle.append(vaeElement("div", "vae-caption", "decoded at h(t)"), current, slider, readout, live);
  top.append(pick("image A", selectA, imageA), middle, pick("image B", selectB, imageB));
  let plane = null;
  const points = asFloat32(model.get("points"));
  if (k === 2 && points.length) {
    plane = new VaePlane(
      model.get("plane_size"),
      model.get("limit"),
      points,
      asUint8(model.get("labels")),
      ["h\u2081", "h\u2082"]
    );
    plane.canvas.setAttribute("role", "img");
    plane.canvas.setAttribute("aria-label", "latent plane with the straight path from A to B");
    top.append(plane.canvas);
  }
  el.replaceChildren(top, vaeElement("div", "vae-caption", `the path in ${steps} steps`), strip);
  const pixels = new Float64Array(D);
  const code = (i) => codes.subarray(i * k, (i + 1) * k);
  const at = (a, b, t) => Float64Array.from(a, (v, d) => (1 - t) * v + t * b[d]);
  let said = null;
  function describe(t, ia, ib, h) {
    const changed = [];
    if (said && said[1] !== ia) changed.push(`image A is now ${names[ia]}`);
    if (said && said[2] !== ib) changed.push(`image B is now ${names[ib]}`);
    said = [t, ia, ib];
    const share = Math.round(100 * t);
    return (changed.length ? `${changed.join("; ")}. ` : "") + `Position t = ${Number(t).toFixed(2)} (${share}% of the way from A = ${names[ia]} to B = ${names[ib]}): h(t) = (${Array.from(h, (v) => vaeSigned(v)).join(", ")}), decoded image mean intensity ${vaeMeanIntensity(pixels).toFixed(2)}.`;
  }
  function update(send) {
    const ia = model.get("index_a");
    const ib = model.get("index_b");
    const t = model.get("t");
    selectA.value = String(ia);
    selectB.value = String(ib);
    slider.value = String(t);
    vaeDrawImage(imageA, Float64Array.from(images.subarray(ia * D, (ia + 1) * D), (v) => v / 255));
    vaeDrawImage(imageB, Float64Array.from(images.subarray(ib * D, (ib + 1) * D), (v) => v / 255));
    const a = code(ia);
    const b = code(ib);
    const start = performance.now();
    decodeInto(decoder, at(a, b, t), pixels);
    el.dataset.decodeMs = (performance.now() - start).toFixed(3);
    vaeDrawImage(current, pixels);
    readout.textContent = `t = ${Number(t).toFixed(2)}`;
    slider.setAttribute("aria-valuetext", `t = ${Number(t).toFixed(2)}`);
    live.textContent = describe(t, ia, ib, at(a, b, t));
    stripCanvases.forEach((c, s) => vaeDrawImage(c, decodeInto(decoder, at(a, b, s / steps), pixels)));
    if (plane) {
      const h = at(a, b, t);
      plane.draw([h[0], h[1]], [[a[0], a[1]], [b[0], b[1]]]);
    }
    if (send) vaeSave(model);
  }
  selectA.addEventListener("change", () => {
    model.set("index_a", Number(selectA.value));
    update(true);
  });
  selectB.addEventListener("change", () => {
    model.set("index_b", Number(selectB.value));
    update(true);
  });
  slider.addEventListener("input", () => {
    model.set("t", Number(slider.value));
    update(true);
  });
  const onChange = () => update(false);
  for (const name of ["change:t", "change:index_a", "change:index_b"]) model.on(name, onChange);
  update(false);
  return () => {
    for (const name of ["change:t", "change:index_a", "change:index_b"]) model.off(name, onChange);
  };
}
var interpolation_default = { render: renderInterpolation };
export {
  decodeBatch,
  decodeInto,
  interpolation_default as default,
  unpackDecoder
};
