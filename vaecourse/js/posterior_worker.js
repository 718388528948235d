// Run the posterior pad's numbers (posterior_numerics.js) in a Web Worker, so that drawing stays
// smooth while the grids are decoded (book chapter 9). The worker is built from the very functions of
// this bundle (their source text, Function.prototype.toString) and a blob URL, so nothing is fetched
// and the page and the worker run the same code. Each request is answered twice: first with the fast
// part (Q's grid and the samples, vaePosteriorStart), then, unless a newer request has arrived, with
// the posterior followed beyond Q's grid (vaePosteriorFinish). Without Worker support it computes on
// the page. Needs mlp_decoder.js, mlp_encoder.js and posterior_numerics.js in front of it.

const VAE_WORKER_FUNCTIONS = [vaeAsTyped, vaeAsFloat32, vaeAsUint8, vaeFromFloat16, unpackDecoder, vaeWeightsOf,
  unpackEncoder, vaeDenseOne, encodeQ, vaeDenseBatch, vaeLogLikelihoodBatch, vaeRandom, vaeLogSumExp,
  vaeMeanAndError, vaeLogGaussian, vaeGridPosterior, vaeFindPosterior, vaePosteriorStart,
  vaeUsePosteriorGrid, vaePosteriorFinish, vaePosteriorNumbers];

function vaeWorkerMain() {
  // The worker's message loop: "init" unpacks the networks once; "compute" answers in two parts.
  let decoder = null, encoder = null, latest = 0;
  const send = (id, result) => self.postMessage({ type: "result", id, result }, [result.logPost.buffer]);
  self.onmessage = (event) => {
    const message = event.data;
    try {
      if (message.type === "init") {
        decoder = unpackDecoder(message.decoderSpec, message.decoderWeights);
        encoder = unpackEncoder(message.encoderSpec, message.encoderWeights);
      } else if (message.type === "compute") {
        latest = message.id;
        const started = vaePosteriorStart(decoder, encoder, message.x, message.options);
        send(message.id, Object.assign({}, started.result, { logPost: started.result.logPost.slice() }));
        setTimeout(() => {  // let a newer request in first; it makes this one's second part moot
          if (latest !== message.id) { self.postMessage({ type: "skipped", id: message.id }); return; }
          try {
            send(message.id, vaePosteriorFinish(decoder, message.x, started));
          } catch (error) {
            self.postMessage({ type: "error", id: message.id, message: String((error && error.stack) || error) });
          }
        }, 0);
      }
    } catch (error) {
      self.postMessage({ type: "error", id: message.id, message: String((error && error.stack) || error) });
    }
  };
}

class VaePosteriorEngine {
  // request(x, options, onResult): onResult(result) is called with the fast part, then the final
  // numbers (result.final true); a newer request supersedes an older one.
  constructor(decoderSpec, decoderWeights, encoderSpec, encoderWeights) {
    // The specs and weight buffers of the shared BrowserDecoder and BrowserEncoder models.
    this.decoder = unpackDecoder(decoderSpec, decoderWeights);
    this.encoder = unpackEncoder(encoderSpec, encoderWeights);
    this.worker = null;
    this.nextId = 1;
    this.callbacks = new Map();
    this.inFlight = 0;  // id of the request whose fast part the worker is computing
    this.queued = null;  // the newest request waiting for it
    try {
      const source = VAE_WORKER_FUNCTIONS.map((f) => f.toString()).join("\n")
        + "\nlet VAE_HALF_TABLE = null;\nconst VAE_LOG_2PI = Math.log(2 * Math.PI);\n(" + vaeWorkerMain.toString() + ")();\n";
      const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
      this.worker = new Worker(url);
      URL.revokeObjectURL(url);
      this.worker.onmessage = (event) => this.receive(event.data);
      this.worker.onerror = (event) => {
        console.warn("vaecourse: posterior worker failed, computing on the page", event.message);
        this.worker = null;
      };
      this.worker.postMessage({
        type: "init",
        decoderSpec, decoderWeights: vaeAsUint8(decoderWeights), encoderSpec, encoderWeights: vaeAsUint8(encoderWeights),
      });
    } catch (error) {
      this.worker = null;  // e.g. a page that forbids blob workers: compute on the page
    }
  }
  receive(message) {
    if (message.id === this.inFlight && (message.type !== "result" || !message.result.final)) {
      this.inFlight = 0;  // the worker has finished the fast part: it can take the newest request
      if (this.queued) { const q = this.queued; this.queued = null; this.post(q); }
    }
    const callback = this.callbacks.get(message.id);
    if (!callback) return;
    if (message.type === "error") {
      this.callbacks.delete(message.id);
      console.error("vaecourse: posterior pad computation failed", message.message);
    } else if (message.type === "skipped") {
      this.callbacks.delete(message.id);
    } else {
      if (message.result.final) this.callbacks.delete(message.id);
      callback(message.result);
    }
  }
  request(x, options, onResult) {
    const id = this.nextId++;
    for (const old of this.callbacks.keys()) if (old < id) this.callbacks.delete(old);  // superseded
    if (!this.worker) {
      const started = vaePosteriorStart(this.decoder, this.encoder, x, options);
      onResult(started.result);
      setTimeout(() => { if (this.nextId === id + 1) onResult(vaePosteriorFinish(this.decoder, x, started)); }, 0);
      return;
    }
    this.callbacks.set(id, onResult);
    const message = { type: "compute", id, x: Float32Array.from(x), options };
    if (this.inFlight) this.queued = message;  // wait for the running fast part; newest request wins
    else this.post(message);
  }
  post(message) {
    this.inFlight = message.id;
    this.worker.postMessage(message);
  }
}
