"""The signing secrets that verify Slack's requests: one guard per secret, so that a request
reaches every trigger holding the secret that signed it, and the secrets of every deployed
trigger, for requests that name no workspace with a trigger (``url_verification``)."""

from __future__ import annotations

import hashlib

from highway_triggers.plugin import GatewayContext, IngressGuard, SlackAuth


def guards_of(secrets: list[str], context: GatewayContext) -> dict[str, IngressGuard]:
    """A guard for each sealed secret, by the fingerprint of its plaintext (in memory only)."""
    return {
        hashlib.sha256(context.unseal(sealed).encode()).hexdigest(): context.guard(
            SlackAuth(type="slack", signing_secret=sealed)
        )
        for sealed in secrets
    }


class SigningKeys:
    """The own secrets of the SLACK triggers running on this replica, each guard once."""

    def __init__(self) -> None:
        self._guards: dict[str, tuple[IngressGuard, int]] = {}

    def add(self, guards: dict[str, IngressGuard]) -> None:
        """A started trigger's guards."""
        for fingerprint, guard in guards.items():
            kept, count = self._guards.get(fingerprint, (guard, 0))
            self._guards[fingerprint] = (kept, count + 1)

    def remove(self, guards: dict[str, IngressGuard]) -> None:
        """A stopped trigger's guards."""
        for fingerprint in guards:
            guard, count = self._guards.pop(fingerprint, (None, 0))
            if guard is not None and count > 1:
                self._guards[fingerprint] = (guard, count - 1)

    def guards(self) -> dict[str, IngressGuard]:
        """One guard per secret, by fingerprint."""
        return {fingerprint: guard for fingerprint, (guard, _) in self._guards.items()}
