// Microphone capture: getUserMedia -> AudioWorklet (pcm-worklet.js) -> 16 kHz
// mono pcm_s16le frames of `frameMs` milliseconds.

export const SAMPLE_RATE = 16000;

/** A microphone problem with a stable code (see errors.js for the wording). */
export class MicError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "MicError";
    this.code = code;
  }
}

function micErrorFrom(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
    return new MicError("mic_denied", err.message || "permission denied");
  }
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") {
    return new MicError("mic_missing", err.message || "no microphone");
  }
  if (name === "NotReadableError" || name === "AbortError" || name === "TrackStartError") {
    return new MicError("mic_busy", err.message || "the microphone could not be opened");
  }
  return new MicError("mic_failed", (err && err.message) || String(err));
}

export class Microphone {
  /**
   * @param {{frameMs?: number, onFrame: (pcm: ArrayBuffer, index: number) => void,
   *          onLevel?: (rms: number) => void, onEnded?: () => void}} opts
   */
  constructor({ frameMs = 40, onFrame, onLevel = () => {}, onEnded = () => {}, onInfo = () => {} }) {
    this.frameMs = frameMs;
    this.onInfo = onInfo;
    this.onFrame = onFrame;
    this.onLevel = onLevel;
    this.onEnded = onEnded;
    this.stream = null;
    this.ctx = null;
    this.node = null;
    this.inputRate = null;
  }

  get active() {
    return this.ctx !== null;
  }

  async start() {
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new MicError("mic_insecure", "getUserMedia is not available on this page");
    }
    if (typeof AudioWorkletNode === "undefined") {
      throw new MicError("mic_failed", "this browser has no AudioWorklet");
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: {
          channelCount: { ideal: 1 },
          echoCancellation: true, // the room may hear the far end of a call
          noiseSuppression: false, // it smears consonants; Whisper copes with noise better
          autoGainControl: true,
        },
        video: false,
      });
    } catch (err) {
      throw micErrorFrom(err);
    }
    try {
      // The context runs at the device's rate; the worklet resamples to 16 kHz.
      this.ctx = new AudioContext({ latencyHint: "interactive" });
      await this.ctx.audioWorklet.addModule(new URL("./pcm-worklet.js", import.meta.url));
      const source = this.ctx.createMediaStreamSource(this.stream);
      this.node = new AudioWorkletNode(this.ctx, "pcm16k", {
        numberOfInputs: 1,
        numberOfOutputs: 1,
        outputChannelCount: [1],
        processorOptions: { frameMs: this.frameMs },
      });
      this.node.port.onmessage = (e) => this.onMessage(e.data);
      // A worklet must reach the destination to be pulled; a zero gain keeps it silent.
      const mute = this.ctx.createGain();
      mute.gain.value = 0;
      source.connect(this.node).connect(mute).connect(this.ctx.destination);
      if (this.ctx.state === "suspended") await this.ctx.resume();
    } catch (err) {
      await this.stop();
      throw new MicError("mic_failed", (err && err.message) || String(err));
    }
    for (const track of this.stream.getAudioTracks()) {
      track.addEventListener("ended", () => this.onEnded());
    }
  }

  onMessage(msg) {
    if (msg.type === "frame") {
      this.onFrame(msg.pcm, msg.index);
      this.onLevel(msg.level);
    } else if (msg.type === "info") {
      this.inputRate = msg.inputRate;
      this.onInfo(msg);
    }
  }

  async stop() {
    if (this.node) {
      this.node.port.postMessage({ type: "stop" });
      this.node.port.onmessage = null;
      this.node.disconnect();
      this.node = null;
    }
    if (this.stream) {
      for (const track of this.stream.getTracks()) track.stop();
      this.stream = null;
    }
    if (this.ctx) {
      const ctx = this.ctx;
      this.ctx = null;
      try {
        await ctx.close();
      } catch {
        // already closed
      }
    }
    this.onLevel(0);
  }
}
