"""Unique object names spread over many directories.

HCP ingests fastest when parallel writers store into different directories. A
:class:`PathBuilder` names each new object with a version-1 UUID and puts it two directory
levels below a fixed initial path; the two levels are bytes 4 and 3 of the UUID in hex, which
change quickly over time. The path can be computed from the name alone, so an application
only has to remember the name.
"""

from __future__ import annotations

import io
import logging
import posixpath
import uuid
from collections.abc import Callable
from xml.etree import ElementTree

from hcpfs.sdk.errors import HcpsdkError

log = logging.getLogger(__name__)

#: The root element of the annotation; the original hcpsdk wrote the same document.
ANNOTATION_ROOT = "hcpsdk_fileobject"


class PathBuilderError(HcpsdkError):
    """A name could not be built, or is not a name this module builds."""


class PathBuilder:
    """Builds unique object names and the paths they are stored under.

    :param initialpath: the directory every path starts with
    :param annotation: also build an XML annotation holding the original file name
    :param uuidgen: makes the UUIDs (version 1 by default; tests give fixed ones)
    """

    def __init__(
        self,
        initialpath: str = "/rest/hcpsdk",
        annotation: bool = False,
        *,
        uuidgen: Callable[[], uuid.UUID] = uuid.uuid1,
    ) -> None:
        self.initialpath = initialpath
        self.annotation = annotation
        self._uuidgen = uuidgen

    def getunique(self, filename: str) -> tuple[str, ...]:
        """Make a new object name and the directory to store it in.

        :param filename: the original file name (only used in the annotation)
        :return: ``(path, name)``, or ``(path, name, annotation)`` when the builder was made
            with ``annotation=True``; ``path`` is the directory, without the name
        :raises PathBuilderError: when the UUID cannot be made
        """
        try:
            name = str(self._uuidgen())
        except (OSError, ValueError) as exc:
            raise PathBuilderError(f"cannot make a UUID: {exc}") from exc
        path = self._directory(uuid.UUID(name))
        if not self.annotation:
            return path, name
        return path, name, build_annotation(filename, path, name)

    def getpath(self, objectname: str) -> str:
        """Return the full path (directory and name) of an object named by :meth:`getunique`.

        :param objectname: the object name
        :raises PathBuilderError: when ``objectname`` is not a UUID
        """
        try:
            parsed = uuid.UUID(objectname)
        except (ValueError, TypeError) as exc:
            raise PathBuilderError(f"not a name made by PathBuilder: {objectname!r}") from exc
        return posixpath.join(self._directory(parsed), objectname)

    def _directory(self, name: uuid.UUID) -> str:
        return posixpath.join(self.initialpath, f"{name.bytes[3]:02x}", f"{name.bytes[2]:02x}")


def build_annotation(filename: str, path: str, name: str) -> str:
    """Build the XML annotation that records an object's original file name.

    :param filename: the original file name
    :param path: the directory the object is stored in
    :param name: the object name
    """
    root = ElementTree.Element(ANNOTATION_ROOT, {"filename": filename, "path": path, "uuid": name})
    buffer = io.BytesIO()
    ElementTree.ElementTree(root).write(buffer, encoding="utf-8", xml_declaration=True)
    return buffer.getvalue().decode("utf-8")
