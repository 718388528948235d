// Interpolation front end (vaecourse.widgets.Interpolation, book/latent_space.md). Two test images are encoded (their encoder means h_a, h_b travel in the
// widget state); the slider t walks the straight line h(t) = (1 - t) h_a + t h_b and the decoder runs
// in the browser at every step. Keyboard: Tab reaches image A's list, the slider t (arrow keys: 0.01,
// Page Up/Down: 0.1, Home/End: A/B) and image B's list, in the order they are laid out; a live region says
// the position t, the point h(t) and the decoded image's mean intensity.

import { asFloat32, asUint8 } from "./buffers.js";
import {
  VaePlane, vaeDrawImage, vaeElement, vaeImageCanvas, vaeLiveRegion, vaeMeanIntensity, vaeSigned,
} from "./drawing.js";
import { decodeBatch, decodeInto, unpackDecoder, vaeLoadDecoder } from "./mlp_decoder.js";
import { vaeSave } from "./widget_model.js";

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
    plane = new VaePlane(model.get("plane_size"), model.get("limit"), points,
                         asUint8(model.get("labels")), ["h\u2081", "h\u2082"]);
    plane.canvas.setAttribute("role", "img");
    plane.canvas.setAttribute("aria-label", "latent plane with the straight path from A to B");
    top.append(plane.canvas);
  }
  el.replaceChildren(top, vaeElement("div", "vae-caption", `the path in ${steps} steps`), strip);

  const pixels = new Float64Array(D);
  const code = (i) => codes.subarray(i * k, (i + 1) * k);
  const at = (a, b, t) => Float64Array.from(a, (v, d) => (1 - t) * v + t * b[d]);
  let said = null;  // what the live region said last: [t, index_a, index_b]
  function describe(t, ia, ib, h) {
    // What changed (the position t or an end image), then where the path is and what the decoder draws.
    const changed = [];
    if (said && said[1] !== ia) changed.push(`image A is now ${names[ia]}`);
    if (said && said[2] !== ib) changed.push(`image B is now ${names[ib]}`);
    said = [t, ia, ib];
    const share = Math.round(100 * t);
    return (changed.length ? `${changed.join("; ")}. ` : "")
      + `Position t = ${Number(t).toFixed(2)} (${share}% of the way from A = ${names[ia]} to B = ${names[ib]}): `
      + `h(t) = (${Array.from(h, (v) => vaeSigned(v)).join(", ")}), `
      + `decoded image mean intensity ${vaeMeanIntensity(pixels).toFixed(2)}.`;
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
  selectA.addEventListener("change", () => { model.set("index_a", Number(selectA.value)); update(true); });
  selectB.addEventListener("change", () => { model.set("index_b", Number(selectB.value)); update(true); });
  slider.addEventListener("input", () => { model.set("t", Number(slider.value)); update(true); });
  const onChange = () => update(false);
  for (const name of ["change:t", "change:index_a", "change:index_b"]) model.on(name, onChange);
  update(false);
  return () => { for (const name of ["change:t", "change:index_a", "change:index_b"]) model.off(name, onChange); };
}

export default { render: renderInterpolation };
export { unpackDecoder, decodeInto, decodeBatch };
