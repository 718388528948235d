// Generated from vaecourse/js/src/ by esbuild-wasm@0.28.2 (make bundles): edit the sources, not this file.
(() => {
  // src/buffers.js
  function asTyped(value, Type) {
    if (value instanceof Type) return value;
    if (ArrayBuffer.isView(value)) {
      return new Type(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));
    }
    if (value instanceof ArrayBuffer) return new Type(value.slice(0));
    if (Array.isArray(value)) return Type.from(value);
    return null;
  }
  function asFloat32(value) {
    const floats = asTyped(value, Float32Array);
    if (floats) return floats;
    throw new Error("vaecourse: decoder weights must be bytes or an array, got " + typeof value);
  }
  function asUint8(value) {
    const bytes = asTyped(value, Uint8Array);
    if (bytes) return bytes;
    return new Uint8Array(0);
  }
  var HALF_TABLE = null;
  function fromFloat16(value) {
    if (!HALF_TABLE) {
      HALF_TABLE = new Float32Array(65536);
      for (let h = 0; h < 65536; h++) {
        const sign = h & 32768 ? -1 : 1, exponent = h >> 10 & 31, fraction = h & 1023;
        HALF_TABLE[h] = exponent === 0 ? sign * fraction * 2 ** -24 : exponent === 31 ? fraction ? NaN : sign * Infinity : sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
      }
    }
    let bytes = asUint8(value);
    if (bytes.byteOffset % 2) bytes = bytes.slice();
    const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
    const out = new Float32Array(halves.length);
    for (let i = 0; i < halves.length; i++) out[i] = HALF_TABLE[halves[i]];
    return out;
  }
  function weightsOf(spec, weights) {
    return spec.dtype === "float16" ? fromFloat16(weights) : asFloat32(weights);
  }

  // src/mlp_decoder.js
  function unpackDecoder(spec, weights) {
    const flat = weightsOf(spec, weights);
    const layers = [];
    let offset = 0;
    for (const layer of spec.layers) {
      const nW = layer.n_out * layer.n_in;
      const W = flat.subarray(offset, offset + nW);
      offset += nW;
      const b = flat.subarray(offset, offset + layer.n_out);
      offset += layer.n_out;
      layers.push({
        W,
        b,
        nIn: layer.n_in,
        nOut: layer.n_out,
        act: layer.activation,
        scratch: new Float64Array(layer.n_out)
      });
    }
    if (offset !== flat.length) {
      throw new Error(`vaecourse: decoder spec needs ${offset} floats, the buffer holds ${flat.length}`);
    }
    const dataDim = spec.data_shape.reduce((a, b) => a * b, 1);
    if (layers.length === 0 || layers[0].nIn !== spec.latent_dim || layers[layers.length - 1].nOut !== dataDim) {
      throw new Error("vaecourse: decoder spec does not map latent_dim to prod(data_shape)");
    }
    return {
      layers,
      latentDim: spec.latent_dim,
      dataDim,
      dataShape: spec.data_shape,
      output: spec.output,
      input: new Float64Array(spec.latent_dim)
    };
  }

  // src/posterior_numerics.js
  var VAE_LOG_2PI = Math.log(2 * Math.PI);
  function vaeDenseBatch(layer, X, n, Y) {
    const { W, b, nIn, nOut, act } = layer;
    const relu = act === "relu", tanh = act === "tanh";
    const finish = (s) => relu ? s > 0 ? s : 0 : tanh ? Math.tanh(s) : s;
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
          a0 += w * u0;
          a1 += w * u1;
          a2 += w * u2;
          a3 += w * u3;
          c0 += v * u0;
          c1 += v * u1;
          c2 += v * u2;
          c3 += v * u3;
        }
        const b0 = b[o], b1 = b[o + 1];
        Y[y0 + o] = finish(a0 + b0);
        Y[y1 + o] = finish(a1 + b0);
        Y[y2 + o] = finish(a2 + b0);
        Y[y3 + o] = finish(a3 + b0);
        Y[y0 + o + 1] = finish(c0 + b1);
        Y[y1 + o + 1] = finish(c1 + b1);
        Y[y2 + o + 1] = finish(c2 + b1);
        Y[y3 + o + 1] = finish(c3 + b1);
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
  function vaeLogLikelihoodBatch(decoder2, x, H, n) {
    if (decoder2.output !== "sigmoid") throw new Error("vaecourse: the posterior pad needs a Bernoulli (sigmoid) decoder");
    const k = decoder2.latentDim, D = decoder2.dataDim, block = 64;
    const out = new Float64Array(n);
    if (!decoder2.batchScratch) {
      const widest = Math.max(...decoder2.layers.map((l) => l.nOut));
      decoder2.batchScratch = [new Float32Array(block * widest), new Float32Array(block * widest)];
    }
    let [A, B] = decoder2.batchScratch;
    for (let start = 0; start < n; start += block) {
      const m = Math.min(block, n - start);
      let input = H.subarray(start * k, (start + m) * k);
      for (const layer of decoder2.layers) {
        vaeDenseBatch(layer, input, m, A);
        input = A;
        [A, B] = [B, A];
      }
      for (let p = 0; p < m; p++) {
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

  // src/posterior_worker.js
  var decoder = null;
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
      self.postMessage({ type: "error", job: message.job, message: String(error && error.stack || error) });
    }
  };
})();
