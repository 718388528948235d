// The MLP decoder of vaecourse.models.VAE run in the browser (book/latent_space.md). Python
// (vaecourse/widgets/browser.py, export_decoder) sends the decoder's nn.Linear weights as one
// little-endian float32 buffer plus a JSON spec; this file rebuilds the network and evaluates
//   a_0 = h,  a_l = act_l(W_l a_{l-1} + b_l),  mean = out(a_L)
// with act_l in {relu, tanh, none} and out the declared likelihood's decoder mean: sigmoid for a
// Bernoulli decoder, E[x|h] = sigmoid(logits) (Kingma & Welling 2013, appendix C), identity for a
// Gaussian one.
// Shapes: W_l is (n_out, n_in) row-major as in torch; h has latent_dim entries; the result has
// data_dim = prod(data_shape) entries. Accumulation is in float64 (JavaScript numbers).

import { weightsOf } from "./buffers.js";
import { referencedModel } from "./widget_model.js";

export function unpackDecoder(spec, weights) {
  // spec: {latent_dim, data_shape, output, layers: [{n_in, n_out, activation}], dtype}; weights: a
  // float32 (or, with dtype "float16", float16) buffer holding, layer after layer, W (n_out*n_in)
  // then b (n_out).
  const flat = weightsOf(spec, weights);
  const layers = [];
  let offset = 0;
  for (const layer of spec.layers) {
    const nW = layer.n_out * layer.n_in;
    const W = flat.subarray(offset, offset + nW);
    offset += nW;
    const b = flat.subarray(offset, offset + layer.n_out);
    offset += layer.n_out;
    layers.push({ W, b, nIn: layer.n_in, nOut: layer.n_out, act: layer.activation,
                  scratch: new Float64Array(layer.n_out) });
  }
  if (offset !== flat.length) {
    throw new Error(`vaecourse: decoder spec needs ${offset} floats, the buffer holds ${flat.length}`);
  }
  const dataDim = spec.data_shape.reduce((a, b) => a * b, 1);
  if (layers.length === 0 || layers[0].nIn !== spec.latent_dim || layers[layers.length - 1].nOut !== dataDim) {
    throw new Error("vaecourse: decoder spec does not map latent_dim to prod(data_shape)");
  }
  return { layers, latentDim: spec.latent_dim, dataDim, dataShape: spec.data_shape, output: spec.output,
           input: new Float64Array(spec.latent_dim) };
}

export function vaeDenseOne(layer, input, output) {
  // output = act(W input + b) for one input vector (Float64Array in, Float64Array out).
  const { W, b, nIn, nOut, act } = layer;
  for (let o = 0; o < nOut; o++) {
    const row = o * nIn;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, i = 0;
    for (; i + 4 <= nIn; i += 4) {
      s0 += W[row + i] * input[i];
      s1 += W[row + i + 1] * input[i + 1];
      s2 += W[row + i + 2] * input[i + 2];
      s3 += W[row + i + 3] * input[i + 3];
    }
    for (; i < nIn; i++) s0 += W[row + i] * input[i];
    let s = b[o] + ((s0 + s1) + (s2 + s3));
    if (act === "relu") s = s > 0 ? s : 0;
    else if (act === "tanh") s = Math.tanh(s);
    output[o] = s;
  }
  return output;
}

export function decodeInto(decoder, h, out) {
  // One latent point h (latent_dim numbers) -> decoder mean written into out (data_dim entries).
  // Every layer reads a Float64Array (monomorphic, so the JIT keeps the loop fast); the inner product
  // runs with four partial sums.
  let input = decoder.input;
  for (let i = 0; i < decoder.latentDim; i++) input[i] = h[i];
  for (const layer of decoder.layers) input = vaeDenseOne(layer, input, layer.scratch);
  const n = decoder.dataDim;
  if (decoder.output === "sigmoid") {
    for (let j = 0; j < n; j++) out[j] = 1 / (1 + Math.exp(-input[j]));
  } else {
    for (let j = 0; j < n; j++) out[j] = input[j];
  }
  return out;
}

export function decodeBatch(decoder, hs, n) {
  // hs: n*latent_dim numbers (row-major (n, latent_dim)) -> Float64Array (n, data_dim).
  const k = decoder.latentDim;
  const D = decoder.dataDim;
  const result = new Float64Array(n * D);
  for (let p = 0; p < n; p++) {
    const h = Array.prototype.slice.call(hs, p * k, (p + 1) * k);
    decodeInto(decoder, h, result.subarray(p * D, (p + 1) * D));
  }
  return result;
}

export async function vaeLoadDecoder(model) {
  // The decoder of the shared BrowserDecoder model the "decoder" trait refers to.
  const holder = await referencedModel(model, "decoder");
  return unpackDecoder(holder.get("spec"), holder.get("weights"));
}
