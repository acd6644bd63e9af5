"""The errors of the emulator: HCP answers and configuration mistakes."""

from __future__ import annotations


class HcpError(Exception):
    """A refusal HCP would answer with ``status`` and an ``X-HCP-ErrorMessage`` text.

    The store and the REST layer raise it; the HTTP server turns it into a response with an
    empty body.

    :param status: the HTTP status HCP answers with
    :param message: the text of ``X-HCP-ErrorMessage``
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message


class ConfigError(ValueError):
    """The emulator's configuration is not usable; the message says which setting and why."""
