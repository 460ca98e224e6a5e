"""The gateway's core: plugins, trigger index, router, outbox and dispatcher."""
