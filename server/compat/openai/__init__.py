"""OpenAI's audio REST API (`/v1/audio/transcriptions`, `/v1/audio/translations`) and the
OpenAI list shape of `/v1/models`, on Parley's shared recognizer (docs/compatibility.md).

`formats`: the response bodies (pure); `app`: the ASGI app that serves them, reached
through server.transport.front; `models`: the `/v1/models` list shape.
"""
