// PosteriorExplorer front end (vaecourse.widgets.PosteriorExplorer, book/latent_space.md). The kernel computes, for one test image x, the true posterior p(h|x) on a grid
// (quadrature, vaecourse.marginal; the grid's window follows the posterior and is sent as `window`) and the
// encoder's Q(h|x) on the same grid; this file only draws them. Arrays are (G, G) float32, entry [i, j] at (h_1 = grid[i], h_2 = grid[j]).
// Keyboard: the number box chooses the test image (arrow keys step it, Enter commits a typed number);
// a live region says the chosen image's numbers when the kernel answers, or that no kernel answered.

import { asFloat32, asUint8 } from "./buffers.js";
import { vaeDrawImage, vaeElement, vaeImageCanvas, vaeLiveRegion } from "./drawing.js";
import { paintHeatmap } from "./palette.js";
import { vaeSave } from "./widget_model.js";

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
  // The grid's window: [h1 low, h1 high, h2 low, h2 high], the kernel's choice for each image (it
  // follows the posterior, so it changes with the image).
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
  // Shown only when a chosen image gets no answer: the static website, or a notebook whose kernel is
  // not running. In a live kernel the answer (new stats) clears it.
  const noKernel = vaeElement("div", "vae-timing vae-no-kernel", "");
  noKernel.setAttribute("role", "status");  // polite: a screen reader hears that no kernel answered
  const live = vaeLiveRegion();  // the numbers in one sentence, read when a new image's numbers arrive
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
    live.textContent = `Test image ${model.get("index")}: `
      + Object.entries(s).filter(([name]) => name !== "test image").map(([name, value]) => `${name} ${value}`)
        .join("; ") + ".";
  }
  let waiting = null;  // the timer that reports a missing kernel
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
      noKernel.textContent = "(no Python kernel answered: choosing another image needs this notebook "
        + "running in a live kernel)";
    }, 4000);
  }
  // Enter commits the number: JupyterLab's notebook takes the keydown (and with it the input's change
  // event) for its own shortcuts, so the box handles Enter itself and keeps it from the notebook.
  index.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    event.stopPropagation();
    choose();
  });
  index.addEventListener("change", choose);  // Tab, the spinner arrows, leaving the box
  const redraw = () => { answered(); update(); };
  model.on("change:stats", redraw);
  update();
  return () => { clearTimeout(waiting); model.off("change:stats", redraw); };
}

export default { render: renderPosterior };
