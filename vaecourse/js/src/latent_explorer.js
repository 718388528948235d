// LatentExplorer front end (vaecourse.widgets.LatentExplorer, book/latent_space.md). Pointing at or dragging on the latent plane decodes that point in the
// browser; with latent_dim > 2 there is one slider per latent dimension (the plane moves h_1 and h_2).

import { asFloat32, asUint8 } from "./buffers.js";
import { VaePlane, vaeDrawImage, vaeElement, vaeImageCanvas, vaeLegend } from "./drawing.js";
import { decodeBatch, decodeInto, unpackDecoder, vaeLoadDecoder } from "./mlp_decoder.js";
import { vaeSave } from "./widget_model.js";

async function renderLatentExplorer({ model, el }) {
  const decoder = await vaeLoadDecoder(model);
  const k = decoder.latentDim;
  const points = asFloat32(model.get("points"));
  const labels = asUint8(model.get("labels"));
  const limit = model.get("limit");
  let h = Float64Array.from(model.get("h"));
  const pixels = new Float64Array(decoder.dataDim);

  el.classList.add("vae-widget", "vae-latent-explorer");
  const left = vaeElement("div", "vae-column");
  const right = vaeElement("div", "vae-column");
  const plane = new VaePlane(model.get("plane_size"), limit, points, labels, ["h\u2081", "h\u2082"]);
  plane.canvas.setAttribute("role", "application");
  plane.canvas.setAttribute("aria-label",
    "Latent plane: point or drag to decode a latent point; arrow keys move it.");
  left.append(vaeElement("div", "vae-caption", "latent plane (encoder means of test images)"),
              plane.canvas, vaeLegend(model.get("label_names"), labels));
  const image = vaeImageCanvas(decoder.dataShape, model.get("image_size"), "decoded image");
  const readout = vaeElement("div", "vae-readout");
  const timing = vaeElement("div", "vae-timing");
  right.append(vaeElement("div", "vae-caption", "decoded in your browser"), image, readout, timing);

  const sliders = [];
  if (k > 2) {
    const box = vaeElement("div", "vae-sliders");
    for (let d = 0; d < k; d++) {
      const row = vaeElement("label", "vae-slider-row");
      const input = vaeElement("input", "vae-slider");
      Object.assign(input, { type: "range", min: -limit, max: limit, step: 0.01, value: h[d] });
      input.dataset.dim = String(d);
      const value = vaeElement("span", "vae-slider-value");
      row.append(vaeElement("span", "vae-slider-name", `h${d + 1}`), input, value);
      input.addEventListener("input", () => { h[d] = Number(input.value); update(true); });
      box.append(row);
      sliders.push({ input, value });
    }
    right.append(box);
  }
  el.replaceChildren(left, right);

  let pending = false;
  function update(send) {
    const start = performance.now();
    decodeInto(decoder, h, pixels);
    const ms = performance.now() - start;
    vaeDrawImage(image, pixels);
    plane.draw([h[0], h[1]]);
    readout.textContent = "h = (" + Array.from(h, (v) => v.toFixed(2)).join(", ") + ")";
    timing.textContent = `decode: ${ms.toFixed(2)} ms`;
    sliders.forEach(({ input, value }, d) => { input.value = h[d]; value.textContent = h[d].toFixed(2); });
    el.dataset.decodeMs = ms.toFixed(3);
    if (send && !pending) {
      // At most one message to the kernel per animation frame while dragging.
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        model.set("h", Array.from(h));
        vaeSave(model);
      });
    }
  }

  let dragging = false;
  function fromPointer(event) {
    const rect = plane.canvas.getBoundingClientRect();
    const [a, b] = plane.toLatent(((event.clientX - rect.left) * plane.size) / rect.width,
                                  ((event.clientY - rect.top) * plane.size) / rect.height);
    h[0] = a;
    h[1] = b;
    update(true);
  }
  plane.canvas.addEventListener("pointerdown", (event) => {
    dragging = true;
    plane.canvas.setPointerCapture(event.pointerId);
    fromPointer(event);
  });
  plane.canvas.addEventListener("pointermove", (event) => {
    if (dragging || model.get("follow_pointer")) fromPointer(event);
  });
  plane.canvas.addEventListener("pointerup", () => { dragging = false; });
  plane.canvas.addEventListener("keydown", (event) => {
    const moves = { ArrowLeft: [-0.1, 0], ArrowRight: [0.1, 0], ArrowUp: [0, 0.1], ArrowDown: [0, -0.1] };
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    h[0] = Math.max(-limit, Math.min(limit, h[0] + move[0]));
    h[1] = Math.max(-limit, Math.min(limit, h[1] + move[1]));
    update(true);
  });
  const onChange = () => { h = Float64Array.from(model.get("h")); update(false); };
  model.on("change:h", onChange);
  update(false);
  return () => model.off("change:h", onChange);
}

export default { render: renderLatentExplorer };
export { unpackDecoder, decodeInto, decodeBatch };
