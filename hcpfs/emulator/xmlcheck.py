"""The well-formedness check HCP applies to annotations when a namespace asks for it."""

from __future__ import annotations

from typing import Any
from xml.parsers import expat

from hcpfs.emulator.errors import HcpError

MAX_DEPTH = 100
MAX_ELEMENTS = 10_000


class _RefusedError(Exception):
    """Raised from a parser callback to stop parsing."""


class XmlChecker:
    """Feed an annotation piece by piece; :meth:`close` tells whether it was acceptable.

    HCP accepts well-formed XML with at most 100 levels of nesting and 10,000 elements.
    """

    def __init__(self) -> None:
        self._parser = expat.ParserCreate()
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end
        # Entity declarations are not expanded: an annotation cannot make the check explode.
        self._parser.EntityDeclHandler = self._entity
        self._depth = 0
        self._elements = 0
        self._error = ""

    def feed(self, chunk: bytes | memoryview) -> None:
        """Parse the next piece; errors are kept for :meth:`close`."""
        if self._error:
            return
        try:
            self._parser.Parse(bytes(chunk), False)
        except _RefusedError:
            pass
        except expat.ExpatError as exc:
            self._error = self._error or f"annotation is not well-formed XML: {exc}"

    def close(self) -> None:
        """Finish the check.

        :raises HcpError: 400 when the annotation is not acceptable
        """
        if not self._error:
            try:
                self._parser.Parse(b"", True)
            except _RefusedError:
                pass
            except expat.ExpatError as exc:
                self._error = self._error or f"annotation is not well-formed XML: {exc}"
        if self._error:
            raise HcpError(400, self._error)

    def _start(self, name: str, attributes: Any) -> None:
        self._depth += 1
        self._elements += 1
        if self._depth > MAX_DEPTH:
            self._fail(f"annotation nests deeper than {MAX_DEPTH} levels")
        elif self._elements > MAX_ELEMENTS:
            self._fail(f"annotation has more than {MAX_ELEMENTS} elements")

    def _end(self, name: str) -> None:
        self._depth -= 1

    def _entity(self, *args: Any) -> None:
        self._fail("annotation declares entities")

    def _fail(self, message: str) -> None:
        self._error = self._error or message
        raise _RefusedError
