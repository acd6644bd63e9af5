"""Reading the small XML documents HCP answers ``/proc`` and management requests with."""

from __future__ import annotations

from typing import TypeAlias
from xml.etree import ElementTree

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
