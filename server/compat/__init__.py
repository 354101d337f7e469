"""The APIs other tools already speak (OpenAI, Deepgram), mapped onto Parley's sessions.

Each API is a translation layer: its messages in, Parley's own session machinery in the
middle (the same shared models, scheduler, limits, metrics), its events out.
"""
