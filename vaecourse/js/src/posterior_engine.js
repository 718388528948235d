// Spread the posterior pad's decoder passes over Web Workers, so that drawing stays smooth and the
// grids of one update run on every core (book/latent_space.md). The page runs the algorithm
// (vaePosterior in posterior_numerics.js) and the encoder; each worker holds the decoder and answers
// "log p(x|h) for these points". A batch of points is cut into pieces of at most VAE_PIECE points and
// each worker holds at most VAE_AHEAD of them at a time, so a newer input waits for at most that many
// pieces per worker before its own work starts: the older request is dropped where it stands.
// The workers run the bundle of posterior_worker.js (built by esbuild with everything it imports, so
// complete by construction), embedded here as text and started from a blob URL: nothing is fetched.
// Without Worker support everything runs on the page.

import WORKER_SOURCE from "../bundles/posterior_worker.js" with { type: "text" };
import { asUint8 } from "./buffers.js";
import { unpackDecoder } from "./mlp_decoder.js";
import { unpackEncoder } from "./mlp_encoder.js";
import { vaeLogLikelihoodBatch, vaePosterior } from "./posterior_numerics.js";

const VAE_PIECE = 16;  // points per message: about 2 ms of one idle core for the 2-256-256-784 decoder
const VAE_AHEAD = 2;  // pieces queued at a worker at once

class VaeSuperseded extends Error {}

function vaeWorkerCount() {
  // One worker per core the browser reports, at most four (the page's own thread is idle meanwhile).
  const cores = (typeof navigator !== "undefined" && navigator.hardwareConcurrency) || 2;
  return Math.max(1, Math.min(4, cores));
}

export class VaePosteriorEngine {
  // request(x, options, onResult): onResult(result) is called with the numbers on Q's grid, then with
  // the final numbers (result.final true); a newer request supersedes an older one.
  constructor(decoderSpec, decoderWeights, encoderSpec, encoderWeights, workers = vaeWorkerCount()) {
    // The specs and weight buffers of the shared BrowserDecoder and BrowserEncoder models.
    this.decoder = unpackDecoder(decoderSpec, decoderWeights);
    this.encoder = unpackEncoder(encoderSpec, encoderWeights);
    this.workers = [];
    this.current = 0;  // the newest request
    this.job = null;  // the batch being evaluated: {request, serial, pieces, waiting, out, resolve, reject}
    this.serial = 0;
    try {
      const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
      for (let w = 0; w < workers; w++) {
        const worker = new Worker(url);
        const slot = { worker, busy: 0 };  // busy: pieces handed out, not yet returned
        worker.onmessage = (event) => this.receive(slot, event.data);
        worker.onerror = (event) => this.fail(`a posterior worker failed (${event.message})`);
        worker.postMessage({ type: "init", spec: decoderSpec, weights: asUint8(decoderWeights) });
        this.workers.push(slot);
      }
      URL.revokeObjectURL(url);
    } catch (error) {
      this.stop();  // e.g. a page that forbids blob workers: compute on the page
    }
  }
  get worker() {
    return this.workers.length > 0;
  }
  stop() {
    for (const slot of this.workers) slot.worker.terminate();
    this.workers = [];
  }
  fail(why) {
    console.warn(`vaecourse: ${why}; computing on the page`);
    this.stop();
    if (this.job) {
      const { job } = this;
      this.job = null;
      job.resolve(vaeLogLikelihoodBatch(this.decoder, job.x, job.H, job.n));
    }
  }
  logLikelihood(request, x, H, n) {
    // log p(x|h) for n points H (n, 2): a promise, spread over the workers in pieces.
    if (request !== this.current) return Promise.reject(new VaeSuperseded());
    if (!this.worker) return vaeLogLikelihoodBatch(this.decoder, x, H, n);
    return new Promise((resolve, reject) => {
      const k = this.decoder.latentDim;
      // as many pieces as needed for VAE_PIECE points each, rounded up to a multiple of the workers
      const count = Math.ceil(Math.ceil(n / VAE_PIECE) / this.workers.length) * this.workers.length;
      const size = Math.ceil(n / count), pieces = [];
      for (let offset = 0; offset < n; offset += size) {
        const m = Math.min(size, n - offset);
        pieces.push({ offset, n: m, H: H.slice(offset * k, (offset + m) * k) });
      }
      this.job = { request, serial: ++this.serial, pieces, waiting: pieces.length, out: new Float64Array(n),
                   x: Float32Array.from(x), H, n, resolve, reject };
      this.dispatch();
    });
  }
  dispatch() {
    // Keep VAE_AHEAD pieces queued at each worker, so that none waits for the page between pieces.
    const job = this.job;
    for (const slot of this.workers) {
      while (job && job.pieces.length > 0 && slot.busy < VAE_AHEAD) {
        const piece = job.pieces.shift();
        slot.busy += 1;
        slot.worker.postMessage({ type: "piece", job: job.serial, offset: piece.offset, n: piece.n, H: piece.H, x: job.x },
                                [piece.H.buffer]);
      }
    }
  }
  receive(slot, message) {
    slot.busy -= 1;
    const job = this.job;
    if (message.type === "error") {
      console.error("vaecourse: posterior pad computation failed", message.message);
      if (job && job.serial === message.job) { this.job = null; job.reject(new Error(message.message)); }
    } else if (job && job.serial === message.job) {
      job.out.set(message.logLik, message.offset);
      job.waiting -= 1;
      if (job.waiting === 0) { this.job = null; job.resolve(job.out); }
    }
    this.dispatch();
  }
  request(x, options, onResult) {
    const id = ++this.current;
    if (this.job) {  // drop the older batch where it stands: its pieces not yet handed out are not run
      const old = this.job;
      this.job = null;
      old.reject(new VaeSuperseded());
    }
    const evaluate = (H, n) => this.logLikelihood(id, x, H, n);
    // (the id checks are defensive: a newer request already makes this one's next batch reject)
    const first = (result) => { if (id === this.current) onResult(result); };
    vaePosterior(evaluate, this.encoder, x, options, first).then(
      (result) => { if (id === this.current) onResult(result); },
      (error) => { if (!(error instanceof VaeSuperseded)) console.error("vaecourse: posterior pad computation failed", error); },
    );
  }
}
