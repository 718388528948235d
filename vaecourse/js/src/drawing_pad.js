// A drawing pad for the posterior pad (book/latent_space.md): mouse, pen and touch (Pointer Events), a
// clear button, and MNIST-style preprocessing of the ink (LeCun et al. 1998, "The MNIST database"):
// crop to the ink's bounding box, scale it (keeping its aspect ratio) to fit a 20 x 20 box, and place
// it in the 28 x 28 image so that its centre of mass sits at the image centre.
// The ink lives on a finer square grid (VAE_PAD_RES per side, 4 cells per output pixel) so that a
// stroke is smooth before it is resampled.
// Keyboard (WAI-ARIA "application", the keys in PAD_KEYS): arrow keys move a pen one pixel of the 28 x 28
// image (Shift: four), Space puts it down (it draws as it moves) and lifts it again, which ends the
// stroke as a mouse button released does; Escape lifts it too. onPen(text) hears where the pen is.

import { vaeElement } from "./drawing.js";

const VAE_PAD_RES = 112;
export const PAD_KEYS = "Keys on the pad: arrows move the pen (Shift: 4 times as far), Space puts the pen down "
  + "to draw and lifts it (the numbers follow), Escape lifts it.";

function vaeSampleBilinear(ink, n, u, v) {
  // The ink at the continuous position (u: column, v: row) of an n x n grid, 0 outside.
  const j = Math.floor(u - 0.5), i = Math.floor(v - 0.5);
  const fu = u - 0.5 - j, fv = v - 0.5 - i;
  const at = (r, c) => (r >= 0 && r < n && c >= 0 && c < n ? ink[r * n + c] : 0);
  return (1 - fv) * ((1 - fu) * at(i, j) + fu * at(i, j + 1)) + fv * ((1 - fu) * at(i + 1, j) + fu * at(i + 1, j + 1));
}

export function vaeMnistPreprocess(ink, n, size = 28, box = 20) {
  // ink: n x n values in [0, 1] (row-major) -> Float32Array (size * size), or null for an empty pad.
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
  const scale = box / Math.max(height, width);  // output pixels per ink cell
  const render = (shiftRow, shiftCol) => {
    // Output pixel (r, c) averages 4 x 4 sub-samples of the scaled ink placed at the shift.
    const out = new Float32Array(size * size);
    const sub = 4;
    for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) {
      let s = 0;
      for (let a = 0; a < sub; a++) for (let b = 0; b < sub; b++) {
        const y = r + (a + 0.5) / sub - shiftRow, x = c + (b + 0.5) / sub - shiftCol;  // scaled-ink coords
        s += vaeSampleBilinear(ink, n, left + x / scale, top + y / scale);
      }
      out[r * size + c] = Math.min(1, s / (sub * sub));
    }
    return out;
  };
  // First place the box in the middle, then move the centre of mass to the centre (size / 2).
  let image = render((size - height * scale) / 2, (size - width * scale) / 2);
  let mass = 0, rowMean = 0, colMean = 0;
  for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) {
    const v = image[r * size + c];
    mass += v; rowMean += v * (r + 0.5); colMean += v * (c + 0.5);
  }
  if (mass > 0) {
    const shiftRow = (size - height * scale) / 2 + size / 2 - rowMean / mass;
    const shiftCol = (size - width * scale) / 2 + size / 2 - colMean / mass;
    image = render(shiftRow, shiftCol);
  }
  return image;
}

export class VaeDrawingPad {
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
    this.onPen = onPen || (() => {});
    this.pen = [this.n / 2, this.n / 2];  // the keyboard pen, in ink cells
    this.penDown = false;
    this.keyboard = false;  // show the pen once a key has been used
    this.canvas.addEventListener("keydown", (event) => this.key(event));
    this.canvas.addEventListener("blur", () => { if (this.penDown) this.lift(); });
    this.radius = 4.2;  // brush radius in ink cells (about 1 pixel of the 28 x 28 image)
    this.last = null;
    this.frame = false;
    const position = (event) => {
      const rect = this.canvas.getBoundingClientRect();
      return [((event.clientX - rect.left) * this.n) / rect.width, ((event.clientY - rect.top) * this.n) / rect.height];
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
    event.stopPropagation();  // JupyterLab's notebook would take these keys for its own shortcuts
    this.keyboard = true;
    if (move) {
      const step = (event.shiftKey ? 4 : 1) * (this.n / 28);
      const clip = (v) => Math.max(0, Math.min(this.n - 1, v));
      const next = [clip(this.pen[0] + step * move[0]), clip(this.pen[1] + step * move[1])];
      if (this.penDown) this.line(this.pen, next);
      this.pen = next;
      if (this.penDown) this.changed(false); else this.draw();
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
    this.onPen(`pen ${this.penDown ? "down (drawing)" : "up"} at column ${Math.floor(this.pen[0] * f) + 1}, `
      + `row ${Math.floor(this.pen[1] * f) + 1} of 28`);
  }
  stamp(x, y) {
    // A soft round brush: full ink inside the radius, a one-cell linear edge.
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
    const steps = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) / 1.0));
    for (let s = 1; s <= steps; s++) this.stamp(x0 + ((x1 - x0) * s) / steps, y0 + ((y1 - y0) * s) / steps);
  }
  changed(final) {
    this.draw();
    if (final) { this.onStroke(true); return; }
    if (this.frame) return;
    this.frame = true;
    requestAnimationFrame(() => { this.frame = false; this.onStroke(false); });
  }
  clear() {
    this.ink.fill(0);
    this.draw();
  }
  load(pixels, side) {
    // Show an image (side x side values in [0, 1]) on the pad, each pixel as a block of ink cells.
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
      data.data[4 * p] = v; data.data[4 * p + 1] = v; data.data[4 * p + 2] = v; data.data[4 * p + 3] = 255;
    }
    ctx.putImageData(data, 0, 0);
    if (this.keyboard) {  // the keyboard pen: a square ring, yellow while it draws
      const r = this.radius + 2;
      ctx.strokeStyle = this.penDown ? "#ffd700" : "#4da3ff";
      ctx.lineWidth = 1.5;
      ctx.strokeRect(this.pen[0] - r, this.pen[1] - r, 2 * r, 2 * r);
    }
  }
}
