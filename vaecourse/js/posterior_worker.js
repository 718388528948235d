// Run vaePosteriorNumbers (posterior_numerics.js) in a Web Worker, so that drawing stays smooth while
// the grid is decoded (book chapter 9). The worker is built from the very functions of this bundle
// (their source text, Function.prototype.toString) and a blob URL, so nothing is fetched and the
// page and the worker run the same code. Without Worker support it computes on the page.
// Needs mlp_decoder.js, mlp_encoder.js and posterior_numerics.js in front of it. Plain declarations.

const VAE_WORKER_FUNCTIONS = [vaeAsFloat32, vaeAsUint8, vaeFromFloat16, unpackDecoder, vaeWeightsOf,
  unpackEncoder, vaeDenseOne, encodeQ, vaeDenseBatch, vaeLogLikelihoodBatch, vaeRandom, vaeLogSumExp,
  vaeMeanAndError, vaeLogGaussian, vaeGridPosterior, vaeFindPosterior, vaePosteriorNumbers];

function vaeWorkerMain() {
  // The worker's message loop: "init" unpacks the networks once, "compute" answers one request.
  let decoder = null, encoder = null;
  self.onmessage = (event) => {
    const message = event.data;
    try {
      if (message.type === "init") {
        decoder = unpackDecoder(message.decoderSpec, message.decoderWeights);
        encoder = unpackEncoder(message.encoderSpec, message.encoderWeights);
        self.postMessage({ type: "ready" });
      } else if (message.type === "compute") {
        const result = vaePosteriorNumbers(decoder, encoder, message.x, message.options);
        self.postMessage({ type: "result", id: message.id, result }, [result.logPost.buffer]);
      }
    } catch (error) {
      self.postMessage({ type: "error", id: message.id, message: String(error && error.stack || error) });
    }
  };
}

class VaePosteriorEngine {
  // compute(x, options) -> Promise of the numbers; at most one request waits behind the running one
  // (a newer request replaces it), so a fast stroke never queues stale work.
  constructor(decoderSpec, decoderWeights, encoderSpec, encoderWeights) {
    // The specs and weight buffers of the shared BrowserDecoder and BrowserEncoder models.
    this.decoder = unpackDecoder(decoderSpec, decoderWeights);
    this.encoder = unpackEncoder(encoderSpec, encoderWeights);
    this.worker = null;
    this.nextId = 1;
    this.pending = new Map();
    this.waiting = null;
    this.busy = false;
    try {
      const source = VAE_WORKER_FUNCTIONS.map((f) => f.toString()).join("\n")
        + "\nlet VAE_HALF_TABLE = null;\nconst VAE_LOG_2PI = Math.log(2 * Math.PI);\n(" + vaeWorkerMain.toString() + ")();\n";
      const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
      this.worker = new Worker(url);
      URL.revokeObjectURL(url);
      this.worker.onmessage = (event) => this.receive(event.data);
      this.worker.onerror = (event) => { console.warn("vaecourse: posterior worker failed, computing on the page", event.message); this.fallBack(); };
      this.worker.postMessage({
        type: "init",
        decoderSpec, decoderWeights: vaeAsUint8(decoderWeights), encoderSpec, encoderWeights: vaeAsUint8(encoderWeights),
      });
    } catch (error) {
      this.worker = null;  // e.g. a page that forbids blob workers: compute on the page
    }
  }
  fallBack() {
    if (this.worker) this.worker.terminate();
    this.worker = null;
    for (const [id, { x, options, resolve, reject }] of this.pending) {
      this.pending.delete(id);
      this.runHere(x, options).then(resolve, reject);
    }
  }
  runHere(x, options) {
    return new Promise((resolve) => resolve(vaePosteriorNumbers(this.decoder, this.encoder, x, options)));
  }
  receive(message) {
    if (message.type === "ready") return;
    const entry = this.pending.get(message.id);
    if (!entry) return;
    this.pending.delete(message.id);
    this.busy = false;
    if (message.type === "error") entry.reject(new Error(message.message));
    else entry.resolve(message.result);
    this.pump();
  }
  pump() {
    if (this.busy || !this.waiting) return;
    const { x, options, resolve, reject } = this.waiting;
    this.waiting = null;
    this.busy = true;
    const id = this.nextId++;
    this.pending.set(id, { x, options, resolve, reject });
    this.worker.postMessage({ type: "compute", id, x, options });
  }
  compute(x, options) {
    if (!this.worker) return this.runHere(x, options);
    return new Promise((resolve, reject) => {
      if (this.waiting) this.waiting.resolve(null);  // superseded: its caller draws nothing
      this.waiting = { x: Float32Array.from(x), options, resolve, reject };
      this.pump();
    });
  }
}
