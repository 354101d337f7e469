"""The network edge: the WebSocket/HTTP gateway, speaker connections, bounded closing."""
