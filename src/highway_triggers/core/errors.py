"""Errors that become the JSON error body, ``{"status": "error", "code", "message"}``."""

from collections.abc import Mapping


class HTTPError(Exception):
    """An error answered as ``{"status": "error", "code": ..., "message": ...}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, object]:
        return {"status": "error", "code": self.code, "message": self.message, **self.extra}


class ConfigError(Exception):
    """A trigger's config failed validation; ``errors`` name the fields."""

    def __init__(self, errors: list[dict[str, object]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


class PluginConflictError(RuntimeError):
    """Two installed plugins claim the same trigger subtype or engine name."""
