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

// src/palette.js
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
function vaeLiveRegion(className) {
  const region = vaeElement("div", `vae-live ${className || ""}`.trim());
  region.setAttribute("role", "status");
  region.setAttribute("aria-live", "polite");
  region.setAttribute("aria-atomic", "true");
  return region;
}

// src/widget_model.js
function vaeSave(model) {
  try {
    model.save_changes();
  } catch (error) {
  }
}

// src/posterior_explorer.js
function vaeHeatmap(canvas, logDensity, G) {
  const ctx = canvas.getContext("2d");
  ctx.putImageData(paintHeatmap(ctx.createImageData(G, G), logDensity, G), 0, 0);
}
async function renderPosterior({ model, el }) {
  el.classList.add("vae-widget", "vae-posterior");
  const G = model.get("grid_size");
  const shape = model.get("data_shape");
  const size = model.get("plane_size");
  const panel = (title, label) => {
    const box = vaeElement("div", "vae-column");
    const canvas = vaeElement("canvas", "vae-image vae-heatmap");
    canvas.width = G;
    canvas.height = G;
    canvas.style.width = `${size}px`;
    canvas.style.height = `${size}px`;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", label);
    box.append(vaeElement("div", "vae-caption", title), canvas);
    return [box, canvas];
  };
  const [truthBox, truth] = panel("true posterior p(h|x)", "heat map of the true posterior on the latent grid");
  const [qBox, q] = panel("encoder Q(h|x)", "heat map of the encoder's Gaussian on the latent grid");
  const axes = vaeElement("div", "vae-caption vae-window", "");
  const describeWindow = () => {
    const [a, b, c, d] = model.get("window").map((v) => v.toFixed(2));
    axes.textContent = `both panels: h\u2081 from ${a} to ${b} (right), h\u2082 from ${c} to ${d} (up)`;
  };
  const imageBox = vaeElement("div", "vae-column");
  const image = vaeImageCanvas(shape, size / 2, "the chosen test image");
  const index = vaeElement("input", "vae-index");
  Object.assign(index, { type: "number", min: 0, max: model.get("n_images") - 1, step: 1 });
  index.setAttribute("aria-label", "index of the test image");
  imageBox.append(vaeElement("div", "vae-caption", "test image x"), image, index);
  const stats = vaeElement("div", "vae-stats");
  const row = vaeElement("div", "vae-row");
  row.append(imageBox, truthBox, qBox);
  const noKernel = vaeElement("div", "vae-timing vae-no-kernel", "");
  noKernel.setAttribute("role", "status");
  const live = vaeLiveRegion();
  el.replaceChildren(row, axes, stats, live, noKernel);
  function update() {
    index.value = String(model.get("index"));
    describeWindow();
    const pixels = asUint8(model.get("image"));
    vaeDrawImage(image, Float64Array.from(pixels, (v) => v / 255));
    vaeHeatmap(truth, asFloat32(model.get("log_posterior")), G);
    vaeHeatmap(q, asFloat32(model.get("log_q")), G);
    const s = model.get("stats");
    stats.textContent = Object.entries(s).map(([name, value]) => `${name.padEnd(28)} ${value}`).join("\n");
    live.textContent = `Test image ${model.get("index")}: ` + Object.entries(s).filter(([name]) => name !== "test image").map(([name, value]) => `${name} ${value}`).join("; ") + ".";
  }
  let waiting = null;
  function answered() {
    clearTimeout(waiting);
    waiting = null;
    noKernel.textContent = "";
  }
  function choose() {
    const wanted = Number(index.value);
    const valid = Number.isInteger(wanted) && wanted >= 0 && wanted < model.get("n_images");
    if (!valid || wanted === model.get("index")) {
      index.value = String(model.get("index"));
      return;
    }
    model.set("index", wanted);
    vaeSave(model);
    clearTimeout(waiting);
    waiting = setTimeout(() => {
      noKernel.textContent = "(no Python kernel answered: choosing another image needs this notebook running in a live kernel)";
    }, 4e3);
  }
  index.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    event.stopPropagation();
    choose();
  });
  index.addEventListener("change", choose);
  const redraw = () => {
    answered();
    update();
  };
  model.on("change:stats", redraw);
  update();
  return () => {
    clearTimeout(waiting);
    model.off("change:stats", redraw);
  };
}
var posterior_explorer_default = { render: renderPosterior };
export {
  posterior_explorer_default as default
};
