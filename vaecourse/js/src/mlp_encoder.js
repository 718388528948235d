// The MLP encoder of vaecourse.models.VAE run in the browser (book/latent_space.md;
// book/ising.md for the Ising lattice). Python (vaecourse/widgets/browser.py, export_encoder) sends
// the encoder's nn.Linear weights as one little-endian buffer (float16 or float32) plus a JSON spec;
// this file rebuilds
//   a_0 = x,  a_l = relu(W_l a_{l-1} + b_l)  (the body),  mu = W_mu a_L + b_mu,
//   sigma = exp(W_s a_L + b_s)  ("log_sigma" head, vaecourse.models.Encoder)
//   or exp(0.5 (W_s a_L + b_s)) ("log_var" head, the Keras example's z_log_var),
// i.e. Q(h|x) = N(mu(x), diag sigma(x)^2) (Kingma & Welling 2013, appendix C.2).
// Shapes: W is (n_out, n_in) row-major as in torch; x has data_dim entries; mu and sigma latent_dim.

import { weightsOf } from "./buffers.js";
import { vaeDenseOne } from "./mlp_decoder.js";
import { referencedModel } from "./widget_model.js";

export function unpackEncoder(spec, weights) {
  // spec: {data_dim, latent_dim, dtype, head ("log_sigma" | "log_var"), layers: [{n_in, n_out,
  // activation}], the body then the mu head then the scale head}.
  const flat = weightsOf(spec, weights);
  const layers = [];
  let offset = 0;
  for (const layer of spec.layers) {
    const nW = layer.n_out * layer.n_in;
    const W = flat.subarray(offset, offset + nW);
    const b = flat.subarray(offset + nW, offset + nW + layer.n_out);
    offset += nW + layer.n_out;
    layers.push({ W, b, nIn: layer.n_in, nOut: layer.n_out, act: layer.activation });
  }
  if (offset !== flat.length) {
    throw new Error(`vaecourse: encoder spec needs ${offset} floats, the buffer holds ${flat.length}`);
  }
  const body = layers.slice(0, -2);
  const [muHead, scaleHead] = layers.slice(-2);
  if (!muHead || layers[0].nIn !== spec.data_dim || muHead.nOut !== spec.latent_dim
      || scaleHead.nOut !== spec.latent_dim) {
    throw new Error("vaecourse: encoder spec does not map data_dim to two latent_dim heads");
  }
  return { body, muHead, scaleHead, dataDim: spec.data_dim, latentDim: spec.latent_dim, head: spec.head,
           flat, spec };
}

export function encodeQ(encoder, x) {
  // x: data_dim numbers -> {mu, sigma}, two Float64Arrays of latent_dim entries.
  let a = Float64Array.from(x);
  for (const layer of encoder.body) a = vaeDenseOne(layer, a, new Float64Array(layer.nOut));
  const mu = vaeDenseOne(encoder.muHead, a, new Float64Array(encoder.latentDim));
  const s = vaeDenseOne(encoder.scaleHead, a, new Float64Array(encoder.latentDim));
  const factor = encoder.head === "log_var" ? 0.5 : 1.0;
  const sigma = s.map((v) => Math.exp(factor * v));
  return { mu, sigma };
}

export async function vaeLoadEncoder(model) {
  // The encoder of the shared BrowserEncoder model the "encoder" trait refers to.
  const holder = await referencedModel(model, "encoder");
  return unpackEncoder(holder.get("spec"), holder.get("weights"));
}
