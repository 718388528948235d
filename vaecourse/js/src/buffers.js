// Bytes traits as typed arrays (book/latent_space.md). The widget manager hands a bytes trait over as
// a DataView (the static site's loader too); tests hand ArrayBuffers, typed arrays or plain arrays.
// Weights may be stored as IEEE half floats (float16, issue 19) and are widened to float32 here.

export function asTyped(value, Type) {
  // DataView, ArrayBuffer, typed array or plain array -> a Type (Float32Array, Uint8Array) that owns
  // an aligned copy of the bytes; else null.
  if (value instanceof Type) return value;
  if (ArrayBuffer.isView(value)) {
    return new Type(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));
  }
  if (value instanceof ArrayBuffer) return new Type(value.slice(0));
  if (Array.isArray(value)) return Type.from(value);
  return null;
}

export function asFloat32(value) {
  const floats = asTyped(value, Float32Array);
  if (floats) return floats;
  throw new Error("vaecourse: decoder weights must be bytes or an array, got " + typeof value);
}

export function asUint8(value) {
  const bytes = asTyped(value, Uint8Array);
  if (bytes) return bytes;
  return new Uint8Array(0);
}

let HALF_TABLE = null;  // float16 bit pattern -> its value, built on first use

export function fromFloat16(value) {
  // Bytes of little-endian float16 numbers -> Float32Array of the same numbers (exact: every half
  // float is a float32). A 65536-entry table makes the conversion one lookup per number.
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1, exponent = (h >> 10) & 0x1f, fraction = h & 0x3ff;
      HALF_TABLE[h] = exponent === 0 ? sign * fraction * 2 ** -24
        : exponent === 31 ? (fraction ? NaN : sign * Infinity)
        : sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
    }
  }
  let bytes = asUint8(value);
  if (bytes.byteOffset % 2) bytes = bytes.slice();  // Uint16Array needs an even offset
  const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) out[i] = HALF_TABLE[halves[i]];
  return out;
}

export function weightsOf(spec, weights) {
  // The float32 numbers of a weight buffer stored as spec.dtype ("float16" or "float32").
  return spec.dtype === "float16" ? fromFloat16(weights) : asFloat32(weights);
}
