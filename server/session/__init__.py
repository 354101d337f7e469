"""A speaker session: its state, its translations, its latency bookkeeping, its replay buffer."""
