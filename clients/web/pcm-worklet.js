// AudioWorklet processor: microphone audio (any rate, any channel count) in,
// 16 kHz mono pcm_s16le frames out, posted to the main thread.
//
// Runs on the audio rendering thread, so it allocates nothing per render
// quantum: fixed buffers, a precomputed polyphase low-pass filter.
//
// Messages to the main thread:
//   {type: "frame", pcm: ArrayBuffer (Int16 LE samples), index: number, level: number}
//     index: 16 kHz sample index of the frame's first sample since capture began
//     level: RMS of the frame, 0..1 (for a level meter)
//   {type: "info", inputRate, outputRate, frameSamples}

const OUTPUT_RATE = 16000;
const PHASES = 64; // sub-sample positions of the filter table
const ZERO_CROSSINGS = 8; // per side of the windowed sinc: quality vs. cost

/** Polyphase windowed-sinc resampler (band-limited to 0.45 of the output rate). */
class Resampler {
  constructor(inputRate, outputRate) {
    this.step = inputRate / outputRate; // input samples advanced per output sample
    this.passthrough = inputRate === outputRate;
    // Cutoff in cycles per input sample: 90% of the output Nyquist (7.2 kHz at 16 kHz),
    // and never above the input Nyquist when upsampling.
    const fc = 0.45 * Math.min(1, outputRate / inputRate);
    this.half = Math.ceil(ZERO_CROSSINGS / (2 * fc)); // taps on each side
    const taps = 2 * this.half;
    this.taps = taps;
    this.table = new Float32Array((PHASES + 1) * taps);
    for (let p = 0; p <= PHASES; p++) {
      const frac = p / PHASES;
      let sum = 0;
      for (let k = 0; k < taps; k++) {
        const d = k - this.half + 1 - frac; // distance from the output position
        const x = 2 * fc * d;
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
        const w = 0.5 * (1 + Math.cos((Math.PI * d) / this.half)); // Hann
        const v = Math.abs(d) >= this.half ? 0 : sinc * w;
        this.table[p * taps + k] = v;
        sum += v;
      }
      for (let k = 0; k < taps; k++) this.table[p * taps + k] /= sum; // unity gain at DC
    }
    // Input history: `half` samples of look-behind plus room for many quanta.
    this.buf = new Float32Array(taps + 8192);
    this.len = this.half; // start with silence so the first output is centred
    this.pos = this.half; // input position of the next output sample (the first real one)
  }

  /** Feed mono input; call emit(sample) for every output sample. */
  process(input, emit) {
    if (this.passthrough) {
      for (let i = 0; i < input.length; i++) emit(input[i]);
      return;
    }
    if (this.len + input.length > this.buf.length) this.compact();
    this.buf.set(input, this.len);
    this.len += input.length;
    const { buf, table, taps, half } = this;
    // Output at position `pos` needs buf[i0 - half + 1 .. i0 + half].
    while (Math.floor(this.pos) + half < this.len) {
      const i0 = Math.floor(this.pos);
      const frac = this.pos - i0;
      const row = Math.round(frac * PHASES) * taps;
      const base = i0 - half + 1;
      let acc = 0;
      for (let k = 0; k < taps; k++) acc += buf[base + k] * table[row + k];
      emit(acc);
      this.pos += this.step;
    }
    this.compact();
  }

  /** Drop input no longer needed (keep `half` samples of look-behind). */
  compact() {
    const drop = Math.floor(this.pos) - this.half + 1;
    if (drop <= 0) return;
    this.buf.copyWithin(0, drop, this.len);
    this.len -= drop;
    this.pos -= drop;
  }
}

class Pcm16kProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    const frameMs = Math.min(100, Math.max(20, opts.frameMs || 40));
    this.frameSamples = Math.round((OUTPUT_RATE * frameMs) / 1000);
    this.resampler = new Resampler(sampleRate, OUTPUT_RATE);
    this.frame = new Int16Array(this.frameSamples);
    this.fill = 0;
    this.sumSq = 0;
    this.index = 0; // 16 kHz samples produced so far
    this.mono = new Float32Array(128);
    this.running = true;
    this.emit = (s) => this.push(s);
    this.port.onmessage = (e) => {
      if (e.data && e.data.type === "stop") this.running = false;
    };
    this.port.postMessage({
      type: "info",
      inputRate: sampleRate,
      outputRate: OUTPUT_RATE,
      frameSamples: this.frameSamples,
    });
  }

  push(sample) {
    const s = sample > 1 ? 1 : sample < -1 ? -1 : sample;
    this.frame[this.fill++] = s < 0 ? s * 0x8000 : s * 0x7fff;
    this.sumSq += s * s;
    if (this.fill === this.frameSamples) {
      const pcm = this.frame.buffer;
      this.port.postMessage(
        {
          type: "frame",
          pcm,
          index: this.index,
          level: Math.sqrt(this.sumSq / this.frameSamples),
        },
        [pcm],
      );
      this.index += this.frameSamples;
      this.frame = new Int16Array(this.frameSamples); // the old buffer was transferred
      this.fill = 0;
      this.sumSq = 0;
    }
  }

  process(inputs) {
    if (!this.running) return false;
    const input = inputs[0];
    if (!input || input.length === 0 || input[0].length === 0) return true; // not started yet
    const n = input[0].length;
    if (this.mono.length !== n) this.mono = new Float32Array(n);
    const mono = this.mono;
    if (input.length === 1) {
      mono.set(input[0]);
    } else {
      mono.fill(0);
      for (const ch of input) for (let i = 0; i < n; i++) mono[i] += ch[i];
      for (let i = 0; i < n; i++) mono[i] /= input.length;
    }
    this.resampler.process(mono, this.emit);
    return true;
  }
}

registerProcessor("pcm16k", Pcm16kProcessor);
