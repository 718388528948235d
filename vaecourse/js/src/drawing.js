// Drawing helpers shared by the vaecourse widgets (book/latent_space.md): grey images on a canvas, a latent
// plane with the label-coloured scatter of encoded test images, and small DOM builders.

import { LABEL_COLOURS } from "./palette.js";

export function vaeElement(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function vaeImageCanvas(dataShape, cssSize, label) {
  // A canvas with one pixel per image pixel, scaled up by CSS (image-rendering: pixelated).
  const [height, width] = dataShape.slice(-2);
  const canvas = vaeElement("canvas", "vae-image");
  canvas.width = width;
  canvas.height = height;
  canvas.style.width = `${cssSize}px`;
  canvas.style.height = `${Math.round((cssSize * height) / width)}px`;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", label);
  return canvas;
}

export function vaeDrawImage(canvas, pixels) {
  // pixels: width*height values in [0, 1] (clipped), drawn white-on-black like MNIST.
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

export class VaePlane {
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
    return [this.margin + ((h1 + this.limit) / (2 * this.limit)) * span,
            this.size - this.margin - ((h2 + this.limit) / (2 * this.limit)) * span];
  }
  toLatent(px, py) {
    const span = this.size - 2 * this.margin;
    const clip = (v) => Math.max(-this.limit, Math.min(this.limit, v));
    return [clip(((px - this.margin) / span) * 2 * this.limit - this.limit),
            clip(((this.size - this.margin - py) / span) * 2 * this.limit - this.limit)];
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
      ctx.moveTo(x, m); ctx.lineTo(x, s - m);
      ctx.moveTo(m, y); ctx.lineTo(s - m, y);
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
    // Copy the cached scatter, then draw an optional path (list of [h1, h2]) and the marker.
    const ctx = this.canvas.getContext("2d");
    ctx.drawImage(this.base, 0, 0);
    if (path && path.length > 1) {
      ctx.strokeStyle = "#000000";
      ctx.lineWidth = 2;
      ctx.beginPath();
      path.forEach(([a, b], i) => {
        const [x, y] = this.toPixel(a, b);
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
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
}

export function vaeLegend(labelNames, labels) {
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

// Accessibility (WAI-ARIA): what a widget shows, said in words.

export function vaeLiveRegion(className) {
  // A polite live region: a screen reader reads its text whenever it changes, after what it is saying.
  const region = vaeElement("div", `vae-live ${className || ""}`.trim());
  region.setAttribute("role", "status");
  region.setAttribute("aria-live", "polite");
  region.setAttribute("aria-atomic", "true");
  return region;
}

let vaeHelpCount = 0;
export function vaeKeyHelp(control, text) {
  // A visible line naming the keys of `control` (a canvas with role="application"), linked to it.
  const help = vaeElement("div", "vae-keys", text);
  help.id = `vae-keys-${++vaeHelpCount}-${Math.random().toString(36).slice(2, 8)}`;
  control.setAttribute("aria-describedby", help.id);
  return help;
}

export function vaeMeanIntensity(pixels) {
  // The mean of the pixel values (clipped to [0, 1]): how much ink the image holds.
  let sum = 0;
  for (const v of pixels) sum += Math.min(1, Math.max(0, v));
  return pixels.length ? sum / pixels.length : 0;
}

export function vaeClassCentres(points, labels) {
  // The mean (h_1, h_2) of the scatter points of each label: [{label, h1, h2}], empty without labels.
  const n = points.length / 2;
  if (labels.length !== n || n === 0) return [];
  const sums = new Map();
  for (let i = 0; i < n; i++) {
    const s = sums.get(labels[i]) || [0, 0, 0];
    s[0] += points[2 * i]; s[1] += points[2 * i + 1]; s[2] += 1;
    sums.set(labels[i], s);
  }
  return Array.from(sums, ([label, [a, b, c]]) => ({ label, h1: a / c, h2: b / c }));
}

export function vaeNearestClass(centres, h1, h2) {
  // The label whose class centre is nearest to (h1, h2), or null without labels.
  let best = null, bestD = Infinity;
  for (const c of centres) {
    const d = (c.h1 - h1) ** 2 + (c.h2 - h2) ** 2;
    if (d < bestD) { bestD = d; best = c.label; }
  }
  return best;
}

export const vaeSigned = (v, digits = 2) => (v < 0 ? "\u2212" : "") + Math.abs(v).toFixed(digits);
