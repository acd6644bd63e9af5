"""The exceptions of the SDK: one root, a few kinds, each carrying where it happened."""

from __future__ import annotations


class HcpsdkError(Exception):
    """Root of every error the SDK raises.

    Besides the human-readable ``reason`` it carries what is known about the failed exchange,
    so callers can map it to their own error model without parsing text.

    :param reason: what went wrong, in a few words
    :param node: the node address the request went to, if any
    :param url: the request path (with query), if any
    :param status: the HTTP status HCP answered with, if any
    :param error_message: the ``X-HCP-ErrorMessage`` header HCP sent, if any
    """

    def __init__(
        self,
        reason: str,
        *,
        node: str | None = None,
        url: str | None = None,
        status: int | None = None,
        error_message: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.node = node
        self.url = url
        self.status = status
        self.error_message = error_message

    def __str__(self) -> str:
        details = []
        if self.status is not None:
            details.append(f"status {self.status}")
        if self.error_message:
            details.append(f"HCP says {self.error_message!r}")
        if self.node:
            details.append(f"node {self.node}")
        if self.url:
            details.append(f"url {self.url}")
        if not details:
            return self.reason
        return f"{self.reason} ({', '.join(details)})"


class HcpsdkCantConnectError(HcpsdkError):
    """No connection to any usable node could be made, or it broke during the exchange."""


class HcpsdkTimeoutError(HcpsdkError):
    """A node did not answer within the connection's timeout."""


class HcpsdkCertificateError(HcpsdkError):
    """The TLS certificate a node presented did not verify."""


class HcpsdkReplicaInitError(HcpsdkError):
    """The target for the replica system could not be set up (usually name resolution).

    When this is raised, the primary target was not created either.
    """


class HcpsdkPortError(HcpsdkError):
    """A target was set up with a port that does not fit the interface being used."""
