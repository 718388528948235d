// LatentExplorer front end (vaecourse.widgets.LatentExplorer, book/latent_space.md). Pointing at or dragging on the latent plane decodes that point in the
// browser; with latent_dim > 2 there is one slider per latent dimension (the plane moves h_1 and h_2).
// Keyboard (WAI-ARIA "application"): on the focused plane the arrow keys move the point by 0.1 (with Shift
// by 0.5), Home returns it to the origin; a live region says the point and what the decoder draws there
// (the class whose centre in the scatter is nearest, and the decoded image's mean intensity).

import { asFloat32, asUint8 } from "./buffers.js";
import {
  VaePlane, vaeClassCentres, vaeDrawImage, vaeElement, vaeImageCanvas, vaeKeyHelp, vaeLegend, vaeLiveRegion,
  vaeMeanIntensity, vaeNearestClass, vaeSigned,
} from "./drawing.js";
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
  const plane = new VaePlane(model.get("plane_size"), limit, points, labels, ["h\u2081", "h\u2082"],
                             model.get("label_names"));
  plane.canvas.tabIndex = 0;  // the only plane that takes keys: the others are pictures (role img)
  plane.canvas.setAttribute("role", "application");
  plane.canvas.setAttribute("aria-label",
    "latent plane: point, drag or use the arrow keys to choose the latent point to decode");
  const keys = vaeKeyHelp(plane.canvas,
    "Keys on the plane: arrows move the point by 0.1 (Shift: 0.5), Home returns it to (0, 0).");
  const names = model.get("label_names");
  const centres = vaeClassCentres(points, labels);
  left.append(vaeElement("div", "vae-caption", "latent plane (encoder means of test images)"),
              plane.canvas, keys, vaeLegend(names, labels));
  const image = vaeImageCanvas(decoder.dataShape, model.get("image_size"), "decoded image");
  const readout = vaeElement("div", "vae-readout");
  const timing = vaeElement("div", "vae-timing");
  const live = vaeLiveRegion();
  right.append(vaeElement("div", "vae-caption", "decoded in your browser"), image, readout, live, timing);

  const sliders = [];
  if (k > 2) {
    const box = vaeElement("div", "vae-sliders");
    for (let d = 0; d < k; d++) {
      const row = vaeElement("label", "vae-slider-row");
      const input = vaeElement("input", "vae-slider");
      Object.assign(input, { type: "range", min: -limit, max: limit, step: 0.01, value: h[d] });
      input.dataset.dim = String(d);
      input.setAttribute("aria-label", `latent coordinate h${d + 1}`);
      const value = vaeElement("span", "vae-slider-value");
      row.append(vaeElement("span", "vae-slider-name", `h${d + 1}`), input, value);
      input.addEventListener("input", () => { h[d] = Number(input.value); update(true, [d]); });
      box.append(row);
      sliders.push({ input, value });
    }
    right.append(box);
  }
  el.replaceChildren(left, right);

  let pending = false;
  function describe(changed) {
    // What changed, then the point and what the decoder draws there.
    const coords = Array.from(h, (v, d) => `h${d + 1} = ${vaeSigned(v)}`);
    const moved = changed && changed.length ? `${changed.map((d) => coords[d]).join(", ")}. ` : "";
    const nearest = vaeNearestClass(centres, h[0], h[1]);
    const what = nearest === null ? "" : `nearest class centre: ${names[nearest] ?? nearest}; `;
    return `${moved}Point (${Array.from(h, (v) => vaeSigned(v)).join(", ")}): ${what}`
      + `decoded image mean intensity ${vaeMeanIntensity(pixels).toFixed(2)}.`;
  }
  function update(send, changed) {
    const start = performance.now();
    decodeInto(decoder, h, pixels);
    const ms = performance.now() - start;
    vaeDrawImage(image, pixels);
    plane.draw([h[0], h[1]]);
    readout.textContent = "h = (" + Array.from(h, (v) => v.toFixed(2)).join(", ") + ")";
    live.textContent = describe(changed);
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
    update(true, [0, 1]);
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
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
    const move = moves[event.key];
    if (!move && event.key !== "Home") return;
    event.preventDefault();
    event.stopPropagation();  // JupyterLab's notebook would take the arrows for its own shortcuts
    const step = event.shiftKey ? 0.5 : 0.1;
    const round = (v) => Math.round(v * 100) / 100;
    const before = [h[0], h[1]];
    if (move) {
      h[0] = round(Math.max(-limit, Math.min(limit, h[0] + step * move[0])));
      h[1] = round(Math.max(-limit, Math.min(limit, h[1] + step * move[1])));
    } else {
      h[0] = 0;
      h[1] = 0;
    }
    update(true, [0, 1].filter((d) => h[d] !== before[d]));
  });
  const onChange = () => {
    const next = Float64Array.from(model.get("h"));
    const changed = Array.from(next.keys()).filter((d) => next[d] !== h[d]);
    if (!changed.length) return;  // the kernel's echo of the page's own point: nothing new to draw or say
    h = next;
    update(false, changed);
  };
  model.on("change:h", onChange);
  update(false);
  return () => model.off("change:h", onChange);
}

export default { render: renderLatentExplorer };
export { unpackDecoder, decodeInto, decodeBatch };
