// The numbers of the posterior pad (vaecourse.widgets.posterior_pad.PosteriorPad, book/latent_space.md),
// computed in the browser for one input x of a 2-D Bernoulli VAE. The algorithm (vaePosterior) and the
// encoder run on the page; the decoder passes run in Web Workers (posterior_engine.js,
// posterior_worker.js) or, failing that, on the page.
//
//   Q(h|x) = N(mu, diag sigma^2)                                   the encoder (mlp_encoder.js)
//   log p(x, h) = sum_d [x_d l_d - softplus(l_d)] + log N(h; 0, I)  l = decoder logits at h
//   log p(x) = log sum_ij p(x, h_ij) D1 D2                           local grid around mu (quadrature)
//   log p(h_ij|x) = log p(x, h_ij) - log p(x)                        the true posterior on the grid
//   D[Q || p(h|x)] ~ sum_ij Q(h_ij|x) D1 D2 [log Q - log p(h|x)]     the same rectangle rule
//   ELBO = mean_s log p(x|h_s) - D[Q || N(0, I)]                    MC reconstruction, closed-form KL
//   IWAE_K = log (1/K) sum_k p(x, h_k) / Q(h_k|x)                   the pool of S samples in S/K groups
// (Kingma & Welling 2013; Burda, Grosse & Salakhutdinov 2015; book/elbo.md and book/latent_space.md.)
// The decoder runs on a batch of latent points at a time: Float32Array matrices, four points times
// two output units per inner loop, so each weight is read once per four points.

import { encodeQ } from "./mlp_encoder.js";

const VAE_LOG_2PI = Math.log(2 * Math.PI);

export function vaeDenseBatch(layer, X, n, Y) {
  // Y (n, nOut) = act(X (n, nIn) W^T + b); row-major Float32Arrays.
  const { W, b, nIn, nOut, act } = layer;
  const relu = act === "relu", tanh = act === "tanh";
  const finish = (s) => (relu ? (s > 0 ? s : 0) : tanh ? Math.tanh(s) : s);
  let p = 0;
  for (; p + 4 <= n; p += 4) {
    const x0 = p * nIn, x1 = x0 + nIn, x2 = x1 + nIn, x3 = x2 + nIn;
    const y0 = p * nOut, y1 = y0 + nOut, y2 = y1 + nOut, y3 = y2 + nOut;
    let o = 0;
    for (; o + 2 <= nOut; o += 2) {
      const r0 = o * nIn, r1 = r0 + nIn;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      for (let i = 0; i < nIn; i++) {
        const w = W[r0 + i], v = W[r1 + i];
        const u0 = X[x0 + i], u1 = X[x1 + i], u2 = X[x2 + i], u3 = X[x3 + i];
        a0 += w * u0; a1 += w * u1; a2 += w * u2; a3 += w * u3;
        c0 += v * u0; c1 += v * u1; c2 += v * u2; c3 += v * u3;
      }
      const b0 = b[o], b1 = b[o + 1];
      Y[y0 + o] = finish(a0 + b0); Y[y1 + o] = finish(a1 + b0); Y[y2 + o] = finish(a2 + b0); Y[y3 + o] = finish(a3 + b0);
      Y[y0 + o + 1] = finish(c0 + b1); Y[y1 + o + 1] = finish(c1 + b1);
      Y[y2 + o + 1] = finish(c2 + b1); Y[y3 + o + 1] = finish(c3 + b1);
    }
    for (; o < nOut; o++) {
      const r0 = o * nIn;
      for (const [xi, yi] of [[x0, y0], [x1, y1], [x2, y2], [x3, y3]]) {
        let s = 0;
        for (let i = 0; i < nIn; i++) s += W[r0 + i] * X[xi + i];
        Y[yi + o] = finish(s + b[o]);
      }
    }
  }
  for (; p < n; p++) {
    for (let o = 0; o < nOut; o++) {
      let s = 0;
      for (let i = 0; i < nIn; i++) s += W[o * nIn + i] * X[p * nIn + i];
      Y[p * nOut + o] = finish(s + b[o]);
    }
  }
  return Y;
}

export function vaeLogLikelihoodBatch(decoder, x, H, n) {
  // log p(x|h) of a Bernoulli decoder for n latent points H (n, latent_dim) -> Float64Array (n,).
  // Points go through the network in blocks of 64, so the activations stay in the cache.
  if (decoder.output !== "sigmoid") throw new Error("vaecourse: the posterior pad needs a Bernoulli (sigmoid) decoder");
  const k = decoder.latentDim, D = decoder.dataDim, block = 64;
  const out = new Float64Array(n);
  if (!decoder.batchScratch) {  // two activation buffers, allocated once per decoder
    const widest = Math.max(...decoder.layers.map((l) => l.nOut));
    decoder.batchScratch = [new Float32Array(block * widest), new Float32Array(block * widest)];
  }
  let [A, B] = decoder.batchScratch;
  for (let start = 0; start < n; start += block) {
    const m = Math.min(block, n - start);
    let input = H.subarray(start * k, (start + m) * k);
    for (const layer of decoder.layers) {
      vaeDenseBatch(layer, input, m, A);
      input = A;
      [A, B] = [B, A];
    }
    for (let p = 0; p < m; p++) {  // sum_d x_d l_d - softplus(l_d), softplus stable for large |l|
      let s = 0;
      const row = p * D;
      for (let d = 0; d < D; d++) {
        const l = input[row + d];
        s += x[d] * l - (l > 0 ? l + Math.log1p(Math.exp(-l)) : Math.log1p(Math.exp(l)));
      }
      out[start + p] = s;
    }
  }
  return out;
}

function vaeRandom(seed) {
  // Seeded uniform numbers in (0, 1) (mulberry32) and standard normals (Box-Muller).
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

function vaeLogSumExp(values) {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  if (max === -Infinity) return -Infinity;
  let s = 0;
  for (const v of values) s += Math.exp(v - max);
  return max + Math.log(s);
}

function vaeMeanAndError(values) {
  // Mean and standard error of the mean (NaN error for one value).
  const n = values.length;
  let mean = 0;
  for (const v of values) mean += v / n;
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  return [mean, n > 1 ? Math.sqrt(ss / (n - 1) / n) : NaN];
}

function vaeLogGaussian(h, mu, sigma) {
  // log N(h; mu, diag sigma^2) for one point h (latent_dim numbers).
  let s = 0;
  for (let d = 0; d < mu.length; d++) {
    const z = (h[d] - mu[d]) / sigma[d];
    s += -0.5 * z * z - Math.log(sigma[d]) - 0.5 * VAE_LOG_2PI;
  }
  return s;
}

function vaeGridAxes(centre, halfWidth, G) {
  // The G x G grid over centre_d +- halfWidth[d]: its axes and its points H (G*G, 2), entry
  // [i*G + j] at (axis1[i], axis2[j]).
  const axis1 = new Float64Array(G), axis2 = new Float64Array(G);
  for (let i = 0; i < G; i++) {
    axis1[i] = centre[0] + halfWidth[0] * (-1 + (2 * i) / (G - 1));
    axis2[i] = centre[1] + halfWidth[1] * (-1 + (2 * i) / (G - 1));
  }
  const H = new Float32Array(G * G * 2);
  for (let i = 0; i < G; i++) for (let j = 0; j < G; j++) { H[2 * (i * G + j)] = axis1[i]; H[2 * (i * G + j) + 1] = axis2[j]; }
  return { axis1, axis2, halfWidth, G, H };
}

function vaeGridPosterior(axes, logLik) {
  // From log p(x|h) on the grid's points (logLik, G*G numbers): log p(x, h), log p(x) by the
  // rectangle rule, the normalised log posterior, its mean and standard deviation on the grid, and
  // the posterior's probability in the outermost ring of cells.
  const { axis1, axis2, G } = axes;
  const logJoint = new Float64Array(G * G);
  for (let i = 0; i < G; i++) for (let j = 0; j < G; j++) {
    const p = i * G + j, a = axis1[i], b = axis2[j];
    logJoint[p] = logLik[p] - 0.5 * (a * a + b * b) - VAE_LOG_2PI;
  }
  const spacing = [axis1[1] - axis1[0], axis2[1] - axis2[0]];
  const cell = spacing[0] * spacing[1];
  const logPx = vaeLogSumExp(logJoint) + Math.log(cell);
  const logPost = logJoint.map((v) => v - logPx);
  let edge = 0, m1 = 0, m2 = 0, v1 = 0, v2 = 0;
  for (let i = 0; i < G; i++) for (let j = 0; j < G; j++) {
    const w = Math.exp(logPost[i * G + j]) * cell;
    if (i === 0 || j === 0 || i === G - 1 || j === G - 1) edge += w;
    m1 += w * axis1[i]; m2 += w * axis2[j]; v1 += w * axis1[i] ** 2; v2 += w * axis2[j] ** 2;
  }
  const std = [Math.sqrt(Math.max(v1 - m1 * m1, 0)), Math.sqrt(Math.max(v2 - m2 * m2, 0))];
  return { axis1, axis2, logJoint, logPost, logPx, cell, spacing, edge, mean: [m1, m2], std, halfWidth: axes.halfWidth };
}

function vaeNextWindow(grid, rule) {
  // Where to put the next grid, or null when this one holds the posterior (the rule of
  // vaecourse.marginal.adaptive_local_grid, its constants sent by the widget: PosteriorPad.window_rule).
  // While more than rule.edge_mass of the posterior lies in the outer ring, widen the window by
  // rule.widen_factor around the posterior mean; while a standard deviation spans under
  // rule.shift_cells cells, zoom to mean +- rule.half_sigmas * std (at least one cell).
  if (grid.edge > rule.edge_mass) return grid.halfWidth.map((w) => rule.widen_factor * w);
  if (grid.std[0] < rule.shift_cells * grid.spacing[0] || grid.std[1] < rule.shift_cells * grid.spacing[1]) {
    return grid.std.map((s, d) => Math.max(rule.half_sigmas * s, grid.spacing[d]));
  }
  return null;
}

function vaeUsePosteriorGrid(result, grid, qTerm) {
  // Fill in the numbers that depend on the posterior's grid.
  result.logPx = grid.logPx;
  result.gap = grid.logPx - result.elbo;
  result.klGrid = qTerm + grid.logPx * result.qMass;
  result.edge = grid.edge;
  result.halfWidth = grid.halfWidth;
  result.axis1 = Array.from(grid.axis1);
  result.axis2 = Array.from(grid.axis2);
  result.logPost = Float32Array.from(grid.logPost);
}

export async function vaePosterior(logLikelihood, encoder, x, options, onFirst) {
  // Everything the pad shows for one input x (data_dim numbers in [0, 1]). logLikelihood(H, n) gives
  // log p(x|h) for n latent points H (n, 2) as a Float64Array, or a promise of one (the engine spreads
  // the points over Web Workers). options: {samples (pool size S), seed, rule}, where rule is the
  // widget's window_rule (vaecourse.marginal.window_rule: grid points per axis, half_sigmas, max_steps,
  // edge_mass, widen_factor, shift_cells). First: encode, Q's grid mu +- half_sigmas * sigma (which
  // resolves Q) and the Monte Carlo pool in one batch, every number with log p(x) from Q's grid,
  // handed to onFirst; then the grid follows the posterior (vaeNextWindow, at most max_steps new
  // grids) and the final numbers are returned.
  const rule = options.rule;
  if (!rule || !(rule.grid >= 3)) throw new Error("vaePosterior: options.rule must be PosteriorPad.window_rule");
  const t0 = performance.now();
  const { mu, sigma } = encodeQ(encoder, x);
  const G = rule.grid, S = options.samples, k = mu.length;
  const qAxes = vaeGridAxes(mu, [rule.half_sigmas * sigma[0], rule.half_sigmas * sigma[1]], G);
  // The Monte Carlo pool: S reparameterised samples h_s = mu + sigma * eps_s, after Q's grid points.
  const rng = vaeRandom(options.seed);
  const points = new Float32Array((G * G + S) * k);
  points.set(qAxes.H);
  const H = points.subarray(G * G * k);
  for (let s = 0; s < S; s++) for (let d = 0; d < k; d++) H[s * k + d] = mu[d] + sigma[d] * rng.normal();
  const both = await logLikelihood(points, G * G + S);
  const qGrid = vaeGridPosterior(qAxes, both.subarray(0, G * G));
  const logLik = both.subarray(G * G);
  const logW = new Float64Array(S);
  for (let s = 0; s < S; s++) {
    const h = H.subarray(s * k, (s + 1) * k);
    let prior = 0;
    for (let d = 0; d < k; d++) prior += -0.5 * h[d] * h[d] - 0.5 * VAE_LOG_2PI;
    logW[s] = logLik[s] + prior - vaeLogGaussian(h, mu, sigma);
  }
  let klPrior = 0;
  for (let d = 0; d < k; d++) klPrior += 0.5 * (mu[d] * mu[d] + sigma[d] * sigma[d] - 1 - 2 * Math.log(sigma[d]));
  const [reconstruction, reconstructionError] = vaeMeanAndError(logLik);
  const iwae = {};
  for (let K = 1; K <= S; K *= 2) {
    const groups = [];
    for (let g = 0; g + K <= S; g += K) groups.push(vaeLogSumExp(logW.subarray(g, g + K)) - Math.log(K));
    const [value, error] = vaeMeanAndError(groups);
    iwae[K] = { value, error, groups: groups.length };
  }
  // sum over Q's grid of Q D1 D2 [log Q - log p(x, h)]: D[Q || p(h|x)] = this + log p(x) * (Q's mass)
  let qMass = 0, qTerm = 0;
  for (let i = 0; i < G; i++) for (let j = 0; j < G; j++) {
    const logQ = vaeLogGaussian([qGrid.axis1[i], qGrid.axis2[j]], mu, sigma);
    const q = Math.exp(logQ) * qGrid.cell;
    qMass += q;
    qTerm += q * (logQ - qGrid.logJoint[i * G + j]);
  }
  const elbo = reconstruction - klPrior;
  const result = {
    mu: Array.from(mu), sigma: Array.from(sigma), elbo, elboError: reconstructionError, reconstruction, klPrior,
    iwae, qMass, gridSize: G, samples: S, seed: options.seed, decodes: G * G + S, widened: 0, final: false,
  };
  vaeUsePosteriorGrid(result, qGrid, qTerm);
  result.ms = { first: performance.now() - t0, total: performance.now() - t0 };
  if (onFirst) onFirst(Object.assign({}, result));
  // The posterior's grid, followed from Q's.
  let grid = qGrid, steps = 0;
  while (steps < rule.max_steps) {
    const half = vaeNextWindow(grid, rule);
    if (!half) break;
    const axes = vaeGridAxes(grid.mean, half, G);
    grid = vaeGridPosterior(axes, await logLikelihood(axes.H, G * G));
    steps += 1;
  }
  const final = Object.assign({}, result, { widened: steps, final: true, decodes: G * G + S + steps * G * G });
  vaeUsePosteriorGrid(final, grid, qTerm);
  final.ms = { first: result.ms.first, total: performance.now() - t0 };
  return final;
}

export function vaePosteriorNumbers(decoder, encoder, x, options) {
  // vaePosterior on this thread (a promise of the final numbers), for tests and benchmarks.
  return vaePosterior((H, n) => vaeLogLikelihoodBatch(decoder, x, H, n), encoder, x, options);
}
