"""Audio in: decoding a speaker's stream to 16 kHz mono float32, and voice activity.

- `decode`: `AudioSpec` (the `audio` object of `start`), `make_decoder`, `AudioDecoder`.
- `pcm`, `container` (+ `ogg`, `webm`, `codec`, `packets`, `resample`): the decoders.
- `vad`: Silero VAD, one model per process, one `VadStream` per session.

Nothing is imported here so that `server.audio.decode` does not load onnxruntime.
"""
