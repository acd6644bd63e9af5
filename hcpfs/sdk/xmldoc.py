"""Reading the small XML documents HCP answers ``/proc`` and management requests with."""

from __future__ import annotations

from typing import NoReturn, TypeAlias
from xml.etree import ElementTree
from xml.parsers import expat

from hcpfs.sdk.connection import Connection, Params
from hcpfs.sdk.errors import HcpsdkError

#: A value from an XML attribute, typed the way the original hcpsdk returned it.
Value: TypeAlias = bool | int | str

#: An element flattened into its text, or a dict of its children flattened the same way.
TextTree: TypeAlias = "str | dict[str, TextTree]"


class XmlError(HcpsdkError):
    """A response body was not the XML document expected."""


def parse(data: bytes) -> ElementTree.Element:
    """Parse an XML document from HCP.

    Documents with a DOCTYPE are refused: HCP never sends one, and refusing them rules out
    entity expansion tricks from whatever answered in its place.

    :param data: the response body
    :raises XmlError: when the body is not well-formed XML or declares a DOCTYPE
    """
    if b"<!DOCTYPE" in data.upper():
        raise XmlError("refusing an XML document with a DOCTYPE")
    try:
        # Safe here: no DOCTYPE means no entities to expand, and expat fetches nothing.
        return ElementTree.fromstring(data)  # noqa: S314
    except ElementTree.ParseError as exc:
        raise XmlError(f"not well-formed XML: {exc}") from exc


class ElementStream:
    """Parse an XML document that arrives in pieces, handing out elements' attributes as the
    elements are read, without building a tree (large directory listings).

    As with :func:`parse`, a document with a DOCTYPE is refused: here as soon as the DOCTYPE
    is read, before anything it declares could be used; expat fetches nothing. Names are
    those :mod:`xml.etree.ElementTree` gives: ``{uri}name`` for a name in a namespace.

    :param tag: the elements whose attributes :meth:`feed` returns
    """

    def __init__(self, tag: str) -> None:
        self._tag = tag
        self._found: list[dict[str, str]] = []
        #: The name of the document element and its attributes, once read.
        self.root: tuple[str, dict[str, str]] | None = None
        self._parser = expat.ParserCreate(namespace_separator="}")
        self._parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self._parser.StartDoctypeDeclHandler = self._refuse_doctype
        self._parser.StartElementHandler = self._start

    def feed(self, data: bytes) -> list[dict[str, str]]:
        """Parse the next piece; return the attributes of the elements begun in it, in order.

        :param data: the next bytes of the document
        :raises XmlError: when the document is not well-formed so far or declares a DOCTYPE
        """
        self._parse(data, final=False)
        return self._take()

    def close(self) -> list[dict[str, str]]:
        """Finish the document; return the attributes of elements begun in its last part.

        :raises XmlError: when the document is incomplete or not well-formed
        """
        self._parse(b"", final=True)
        return self._take()

    def _parse(self, data: bytes, final: bool) -> None:
        try:
            self._parser.Parse(data, final)
        except expat.ExpatError as exc:
            raise XmlError(f"not well-formed XML: {exc}") from exc

    def _take(self) -> list[dict[str, str]]:
        found, self._found = self._found, []
        return found

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        # expat writes a name in a namespace as "uri}name" (one test over all the names).
        if "}" in name:
            name = "{" + name
        if "}" in "".join(attributes):
            attributes = {_qualified(key): value for key, value in attributes.items()}
        if self.root is None:
            self.root = (name, attributes)
        if name == self._tag:
            self._found.append(attributes)

    @staticmethod
    def _refuse_doctype(*declaration: object) -> NoReturn:
        raise XmlError("refusing an XML document with a DOCTYPE")


def _qualified(name: str) -> str:
    return "{" + name if "}" in name else name


def cast(text: str) -> Value:
    """Turn ``true``/``false`` into bool and integers into int; leave other text alone.

    :param text: an attribute value
    """
    if text == "true":
        return True
    if text == "false":
        return False
    try:
        return int(text)
    except ValueError:
        return text


def attributes(element: ElementTree.Element) -> dict[str, Value]:
    """Return an element's attributes, cast, without namespaced ones such as ``xsi:...``.

    :param element: the element
    """
    return {name: cast(value) for name, value in element.attrib.items() if name[0] != "{"}


def text_tree(element: ElementTree.Element) -> TextTree:
    """Flatten an element into text (a leaf) or a dict of its children, recursively.

    :param element: the element
    """
    children = list(element)
    if not children:
        return (element.text or "").strip()
    return {child.tag: text_tree(child) for child in children}


def fetch(connection: Connection, path: str, params: Params | None = None) -> ElementTree.Element:
    """GET a document and parse it; anything but 200 OK raises.

    :param connection: the connection to send the request on
    :param path: the path, e.g. ``/proc/statistics``
    :param params: query parameters
    :raises HcpsdkError: with status and ``X-HCP-ErrorMessage`` when HCP refused
    :raises XmlError: when the body is not XML
    """
    connection.GET(path, params=params)
    body = connection.read()
    expect_status(connection, 200, f"GET {path}")
    return parse(body)


def expect_status(connection: Connection, status: int, what: str) -> None:
    """Raise unless the last response of ``connection`` had ``status``.

    :param connection: the connection that sent the request
    :param status: the status expected
    :param what: the request, for the message (e.g. ``GET /proc``)
    :raises HcpsdkError: carrying node, URL, status and ``X-HCP-ErrorMessage``
    """
    if connection.response_status == status:
        return
    raise HcpsdkError(
        f"{what} answered {connection.response_status} {connection.response_reason}",
        node=connection.address,
        url=connection.url,
        status=connection.response_status,
        error_message=connection.getheader("X-HCP-ErrorMessage"),
    )
