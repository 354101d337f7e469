"""Voice-agent framework plugins of Parley (see parley_livekit)."""
