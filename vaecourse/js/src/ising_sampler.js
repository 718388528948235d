// The 2-D Ising model sampled in the browser (book/ising.md): an L x L periodic
// lattice of spins s = +-1 with E = -sum_<ij> s_i s_j (J = k_B = 1), updated by checkerboard
// Metropolis sweeps: all sites of one colour (i + j even), then the other, each flipped with
// probability min(1, exp(-dE / T)), dE = 2 s_i sum_{j nb i} s_j (Metropolis et al. 1953). The two
// colours do not neighbour each other, so a half-sweep is exact in any order. Seeded (mulberry32).

export class VaeIsingLattice {
  constructor(L, seed, ordered) {
    this.L = L;
    this.spins = new Int8Array(L * L);
    let a = seed >>> 0;
    this.uniform = () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    for (let p = 0; p < L * L; p++) this.spins[p] = ordered ? 1 : (this.uniform() < 0.5 ? 1 : -1);
    this.temperature = NaN;
    this.accept = [1, 1, 1];
  }
  setTemperature(T) {
    // Acceptance probabilities for dE = 4 and 8 (dE <= 0 is always accepted).
    this.temperature = T;
    this.accept = [1, Math.exp(-4 / T), Math.exp(-8 / T)];
  }
  sweep() {
    const L = this.L, s = this.spins;
    for (let colour = 0; colour < 2; colour++) {
      for (let i = 0; i < L; i++) {
        const up = ((i + L - 1) % L) * L, down = ((i + 1) % L) * L, row = i * L;
        for (let j = (i + colour) % 2; j < L; j += 2) {
          const left = (j + L - 1) % L, right = (j + 1) % L;
          const field = s[up + j] + s[down + j] + s[row + left] + s[row + right];
          const dE = 2 * s[row + j] * field;  // -8, -4, 0, 4 or 8
          if (dE <= 0 || this.uniform() < this.accept[dE >> 2]) s[row + j] = -s[row + j];
        }
      }
    }
  }
  energy() {
    // Energy per spin, -1/N sum over bonds (right and down neighbours, each bond once).
    const L = this.L, s = this.spins;
    let e = 0;
    for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) {
      e -= s[i * L + j] * (s[i * L + (j + 1) % L] + s[((i + 1) % L) * L + j]);
    }
    return e / (L * L);
  }
  magnetisation() {
    let m = 0;
    for (const v of this.spins) m += v;
    return m / this.spins.length;
  }
  pixels() {
    // x = (s + 1) / 2 row-major, the VAE's input (vaecourse.physics.spins_to_pixels).
    return Float32Array.from(this.spins, (v) => (v + 1) / 2);
  }
}

export function vaeOnsagerM(T) {
  // Onsager's (Yang's) spontaneous magnetisation per spin, (1 - sinh(2/T)^-4)^(1/8) below T_c, else 0.
  const x = 1 - Math.sinh(2 / T) ** -4;
  return x > 0 ? x ** 0.125 : 0;
}

export function vaeIsingAverages(L, T, sweeps, burn, seed) {
  // Run a lattice at T (started ordered) and return the means of |m| and energy per spin with
  // standard errors from 20 batch means.
  const lattice = new VaeIsingLattice(L, seed, true);
  lattice.setTemperature(T);
  for (let s = 0; s < burn; s++) lattice.sweep();
  const batches = 20, per = Math.floor(sweeps / batches);
  const mB = [], eB = [];
  for (let b = 0; b < batches; b++) {
    let m = 0, e = 0;
    for (let s = 0; s < per; s++) { lattice.sweep(); m += Math.abs(lattice.magnetisation()); e += lattice.energy(); }
    mB.push(m / per); eB.push(e / per);
  }
  const stats = (v) => {
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1));
    return [mean, sd / Math.sqrt(v.length)];
  };
  const [absM, absMError] = stats(mB), [energy, energyError] = stats(eB);
  return { absM, absMError, energy, energyError };
}
