// The colours of the vaecourse widgets (book/latent_space.md): one colour per class label (Okabe & Ito's
// colour-blind-safe colours, as vaecourse.plotting.CLASS_COLOURS; the plane also writes each class's name at
// its cluster's centre) and the viridis colour map of the heat maps (five stops, linearly interpolated).

export const LABEL_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7",
                              "#56B4E9", "#F0E442", "#000000", "#999999", "#882255"];

export const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

export function paintHeatmap(image, logDensity, G) {
  // Fill the G x G ImageData `image` with the density exp(logDensity) relative to its peak, in
  // viridis: entry [i, j] (i along h_1, j along h_2) at pixel column i, row G - 1 - j (h_2 upwards).
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
