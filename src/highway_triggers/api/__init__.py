"""The core's HTTP routes (CONTRACT §3)."""
