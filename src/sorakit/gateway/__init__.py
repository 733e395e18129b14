"""The team gateway: API keys, ownership and per-key limits in front of the Videos API."""
