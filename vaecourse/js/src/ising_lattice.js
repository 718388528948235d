// IsingLattice front end (vaecourse.widgets.ising_lattice.IsingLattice, book/ising.md). Every animation
// frame: a few checkerboard Metropolis sweeps at the slider's temperature, the lattice drawn, the
// configuration encoded in the browser, and its point (T, latent value) moved on the plot of the
// held-out configurations, beside Onsager's +-M(T) (scaled) and the T_c estimates. Keyboard: the temperature
// slider (arrow keys: 0.01, Page Up/Down: 0.1, Home/End: the ends) and the pause button; a live region
// says the temperature, the magnetisation and the latent value once the lattice has settled after a change
// (half a second), and when the sampler is paused or run again.

import { asFloat32 } from "./buffers.js";
import { vaeDrawImage, vaeElement, vaeImageCanvas, vaeLiveRegion, vaeSigned } from "./drawing.js";
import { VaeIsingLattice, vaeIsingAverages, vaeOnsagerM } from "./ising_sampler.js";
import { encodeQ, unpackEncoder, vaeLoadEncoder } from "./mlp_encoder.js";
import { vaeSave } from "./widget_model.js";

function vaeLatentPlot(canvas, state) {
  // Axes: T to the right (t_min..t_max), the latent value up (symmetric range of the background).
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, m = 34;
  const { points, tMin, tMax, yMax } = state;
  const px = (T) => m + ((T - tMin) / (tMax - tMin)) * (w - m - 8);
  const py = (y) => h - m + 10 - ((y + yMax) / (2 * yMax)) * (h - m - 8);
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
  ctx.strokeStyle = "#999"; ctx.lineWidth = 1; ctx.strokeRect(m, 2, w - m - 8, h - m + 8);
  if (state.tcEstimate.length) {
    const [v, e] = state.tcEstimate;
    ctx.fillStyle = "rgba(255, 127, 14, 0.3)";
    ctx.fillRect(px(v - e), 2, Math.max(2, px(v + e) - px(v - e)), h - m + 8);
  }
  ctx.globalAlpha = 0.35; ctx.fillStyle = "#555";
  for (let i = 0; i < points.length / 2; i++) ctx.fillRect(px(points[2 * i]) - 1, py(points[2 * i + 1]) - 1, 2, 2);
  ctx.globalAlpha = 1;
  ctx.strokeStyle = "#2ca02c"; ctx.lineWidth = 2;
  for (const sign of [1, -1]) {
    ctx.beginPath();
    for (let k = 0; k <= 200; k++) {
      const T = tMin + ((tMax - tMin) * k) / 200;
      const y = sign * state.scale * vaeOnsagerM(T);
      if (k === 0) ctx.moveTo(px(T), py(y)); else ctx.lineTo(px(T), py(y));
    }
    ctx.stroke();
  }
  ctx.setLineDash([4, 3]); ctx.strokeStyle = "#444"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(px(state.tc), 2); ctx.lineTo(px(state.tc), h - m + 10); ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = "#333"; ctx.font = "11px sans-serif"; ctx.textAlign = "center";
  for (let T = Math.ceil(tMin * 2) / 2; T <= tMax + 1e-9; T += 0.5) ctx.fillText(T.toFixed(1), px(T), h - m + 24);
  ctx.fillText("temperature T", (w + m) / 2, h - 3);
  ctx.save(); ctx.translate(11, (h - m) / 2); ctx.rotate(-Math.PI / 2); ctx.fillText("latent value", 0, 0); ctx.restore();
  ctx.textAlign = "left";
  ctx.fillStyle = "#2ca02c"; ctx.fillText("\u00b1 Onsager M(T), scaled", m + 6, 14);
  ctx.fillStyle = "#444"; ctx.fillText(`dashed: Onsager T_c = ${state.tc.toFixed(3)}`, m + 6, 27);
  if (state.tcEstimate.length) {
    ctx.fillStyle = "#d2691e";
    ctx.fillText(`band: VAE T_c = ${state.tcEstimate[0].toFixed(2)} \u00b1 ${state.tcEstimate[1].toFixed(2)}`, m + 6, 40);
  }
  state.trail.forEach(([T, y], i) => {
    ctx.fillStyle = `rgba(214, 39, 40, ${(0.15 + (0.6 * i) / state.trail.length).toFixed(2)})`;
    ctx.beginPath(); ctx.arc(px(T), py(y), 2.5, 0, 2 * Math.PI); ctx.fill();
  });
  const [T, y] = state.trail[state.trail.length - 1] || [NaN, NaN];
  if (Number.isFinite(y)) {
    ctx.fillStyle = "#d62728"; ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.arc(px(T), py(y), 6, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
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
  const state = { points, tMin: model.get("t_min"), tMax: model.get("t_max"), yMax: 1.08 * yMax,
                  scale: model.get("onsager_scale"), tc: model.get("t_c"), tcEstimate: model.get("tc_estimate"),
                  trail: [] };
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
  const live = vaeLiveRegion();  // said after a change settles, not every frame
  left.append(vaeElement("div", "vae-caption", `Metropolis in your browser, L = ${L}`), canvas, sliderRow, pause, readout, live);
  const right = vaeElement("div", "vae-column");
  const plot = vaeElement("canvas", "vae-latent-plot");
  plot.width = 440; plot.height = 300;
  plot.setAttribute("role", "img");
  plot.setAttribute("aria-label", "latent value against temperature: held-out configurations, Onsager's M(T), T_c, and the live lattice's point");
  right.append(vaeElement("div", "vae-caption", "its encoding, on the chapter's latent-vs-T plot"), plot);
  el.replaceChildren(left, right);

  const pixels = new Float64Array(L * L);
  let frames = 0, visible = true, stopped = false, latest = 0, announce = null;
  function say(what) {
    // The live region's sentence: what changed, then T, the magnetisation and the latent value now.
    const m = lattice.magnetisation();
    live.textContent = `${what}: temperature T = ${lattice.temperature.toFixed(2)}, magnetisation m = `
      + `${vaeSigned(m, 3)} (|m| = ${Math.abs(m).toFixed(3)}), latent value ${vaeSigned(latest, 3)}`
      + `${model.get("running") ? "" : ", sampler paused"}.`;
  }
  function setT(T, spoken) {
    lattice.setTemperature(T);
    slider.value = String(T);
    tValue.textContent = Number(T).toFixed(2);
    slider.setAttribute("aria-valuetext", `T = ${Number(T).toFixed(2)}`);
    if (!spoken) return;
    clearTimeout(announce);  // wait for the lattice to settle at the new temperature
    announce = setTimeout(() => say(`temperature changed to ${Number(T).toFixed(2)}`), 500);
  }
  function frame() {
    if (stopped) return;
    if (model.get("running") && visible) {
      for (let s = 0; s < model.get("sweeps_per_frame"); s++) lattice.sweep();
      const x = lattice.pixels();
      for (let p = 0; p < L * L; p++) pixels[p] = 1 - x[p];  // black = spin up
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
  if (typeof IntersectionObserver !== "undefined") {  // no work while the lattice is off screen
    new IntersectionObserver((entries) => { visible = entries.some((e) => e.isIntersecting); }).observe(el);
  }
  setT(model.get("T"), false);
  el.vaeLattice = lattice;
  requestAnimationFrame(frame);
  return () => { stopped = true; clearTimeout(announce); model.off("change:T", onT); };
}

export default { render: renderIsingLattice };
export { VaeIsingLattice, vaeIsingAverages, vaeOnsagerM, unpackEncoder, encodeQ };
