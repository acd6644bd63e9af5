"""Where faults can be injected into the emulator's HTTP nodes.

The nodes call one :class:`Faults` object (``System.faults``) at fixed points of every
connection and request. This class does nothing; a subclass overrides the hooks to delay,
refuse, throttle, cut or reset. The call sites, in order:

1. :meth:`Faults.on_connection` -- in the connection's thread, right after the node accepted
   it (and after the TLS handshake when the node serves HTTPS), before the first request is
   read. Raising ``OSError`` here drops the connection.
2. :meth:`Faults.before_request` -- after the request line and headers were parsed, before
   authentication and routing. It may sleep. A returned status (e.g. 503) is answered at once
   (empty body, ``X-HCP-ErrorMessage``) instead of handling the request.
3. :meth:`Faults.wrap_request_body` -- when the request has a body, around the reader the
   handler reads it from (after de-chunking, before gzip decoding). The reader's ``read(n)``
   returns ``b""`` at the end of the body.
4. :meth:`Faults.wrap_response_body` -- around the writer the response is written to, asked
   for before the status line and headers are sent. Its ``write(data)`` must send all of
   ``data``; a wrapper may sleep, stop early and close, or raise ``ConnectionResetError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hcpfs.emulator.exchange import Readable, Writable
    from hcpfs.emulator.server import Node


class Faults:
    """The no-op fault hooks; see the module documentation for when each is called."""

    def on_connection(self, node: Node) -> None:
        """Called after ``node`` accepted a connection.

        :param node: the node that accepted it
        """

    def before_request(self, node: Node, method: str, path: str) -> int | None:
        """Called before a request is handled; a returned status is answered instead.

        :param node: the node that received the request
        :param method: the HTTP method
        :param path: the request path as sent (percent-encoded, without the query)
        """
        return None

    def wrap_request_body(self, node: Node, reader: Readable) -> Readable:
        """Return the reader the request body is read from.

        :param node: the node that received the request
        :param reader: the body reader
        """
        return reader

    def wrap_response_body(self, node: Node, writer: Writable) -> Writable:
        """Return the writer the response is written to.

        :param node: the node that answers
        :param writer: the connection's writer
        """
        return writer
