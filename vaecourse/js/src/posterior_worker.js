// A Web Worker of the posterior pad (book/latent_space.md; the page side is posterior_engine.js): it
// holds the decoder and answers "log p(x|h) for these points". Messages: {type: "init", spec, weights}
// unpacks the decoder once; {type: "piece", job, offset, x, H, n} answers {type: "piece", job, offset,
// logLik} (log p(x|h) of the n points H (n, latent_dim), a Float64Array); a failure answers
// {type: "error", job, message}. Bundled by esbuild into one classic script (vaecourse/js/bundles/
// posterior_worker.js) with everything it imports; the pad's bundle embeds that text.

import { unpackDecoder } from "./mlp_decoder.js";
import { vaeLogLikelihoodBatch } from "./posterior_numerics.js";

let decoder = null;
self.onmessage = (event) => {
  const message = event.data;
  try {
    if (message.type === "init") {
      decoder = unpackDecoder(message.spec, message.weights);
    } else if (message.type === "piece") {
      const logLik = vaeLogLikelihoodBatch(decoder, message.x, message.H, message.n);
      self.postMessage({ type: "piece", job: message.job, offset: message.offset, logLik }, [logLik.buffer]);
    }
  } catch (error) {
    self.postMessage({ type: "error", job: message.job, message: String((error && error.stack) || error) });
  }
};
