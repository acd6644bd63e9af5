"""Namespace information from the ``/proc`` requests: settings, statistics, permissions.

The target must be made for a namespace host name (``ns.tenant.hcp.example.com``). The
dictionaries returned have the shapes the original hcpsdk documented: numbers as int, flags as
bool, other values as text.
"""

from __future__ import annotations

import logging
from typing import TypeAlias
from xml.etree import ElementTree

from hcpfs.sdk import xmldoc
from hcpfs.sdk.connection import Connection, Params
from hcpfs.sdk.target import Target
from hcpfs.sdk.xmldoc import Value

log = logging.getLogger(__name__)

#: The original hcpsdk returned a namespace description as a list of the parts between these.
DESCRIPTION_SEPARATOR = "\N{DEGREE SIGN}"

#: The settings of one namespace: its ``/proc`` attributes and its ``description`` parts.
Settings: TypeAlias = dict[str, Value | list[str]]


class Info:
    """Reads information about the target's namespace.

    :param target: a target made for a namespace host name
    :param debuglevel: accepted for compatibility and ignored
    :param timeout: seconds to wait for HCP to answer
    """

    def __init__(self, target: Target, debuglevel: int = 0, *, timeout: float = 30.0) -> None:
        self.target = target
        self.debuglevel = debuglevel
        self.timeout = timeout
        #: Seconds the last request spent connecting.
        self.connect_time = 0.0
        #: Seconds the last request took until its body was read.
        self.service_time = 0.0

    def nsstatistics(self) -> dict[str, Value]:
        """Return the namespace statistics (``GET /proc/statistics``).

        Keys: ``namespaceName``, ``totalCapacityBytes``, ``usedCapacityBytes``,
        ``softQuotaPercent``, ``objectCount``, ``shredObjectCount``, ``shredObjectBytes``,
        ``customMetadataObjectCount``, ``customMetadataObjectBytes``.

        :raises HcpsdkError: when HCP refuses (401 without access to the namespace)
        """
        return parse_statistics(self._fetch("/proc/statistics"))

    def listaccessiblens(self, all: bool = False) -> dict[str, Settings]:
        """Return the settings of this namespace, or of every namespace the user may access.

        Sends ``GET /proc?single=true``, or ``GET /proc`` when ``all`` is True.

        :param all: list every accessible namespace of the tenant, not just this one
        :return: a dict per namespace name, with its attributes and ``description``
        """
        params: Params | None = None if all else {"single": "true"}
        return parse_namespaces(self._fetch("/proc", params))

    def listretentionclasses(self) -> dict[str, dict[str, Value]]:
        """Return the namespace's retention classes (``GET /proc/retentionClasses``).

        :return: a dict per class name with ``name``, ``value``, ``autoDelete``, ``description``
        """
        return parse_retention_classes(self._fetch("/proc/retentionClasses"))

    def listpermissions(self) -> dict[str, dict[str, Value]]:
        """Return the permission masks (``GET /proc/permissions``).

        :return: ``namespacePermissions``, ``namespaceEffectivePermissions``,
            ``userPermissions`` and ``userEffectivePermissions``, each a dict of flags
        """
        return parse_permissions(self._fetch("/proc/permissions"))

    def _fetch(self, path: str, params: Params | None = None) -> ElementTree.Element:
        with Connection(self.target, timeout=self.timeout) as connection:
            root = xmldoc.fetch(connection, path, params)
            self.connect_time = connection.connect_time
            self.service_time = connection.service_time2
        return root


def parse_statistics(root: ElementTree.Element) -> dict[str, Value]:
    """Read a ``<statistics>`` document: all its data is in the root's attributes.

    :param root: the parsed document
    """
    return xmldoc.attributes(root)


def parse_namespaces(root: ElementTree.Element) -> dict[str, Settings]:
    """Read a ``<namespaces>`` document into a dict per namespace name.

    :param root: the parsed document
    """
    found: dict[str, Settings] = {}
    for element in root.iter("namespace"):
        settings: Settings = dict(xmldoc.attributes(element))
        text = element.findtext("description", default="").strip()
        parts = text.split(DESCRIPTION_SEPARATOR) if text else []
        settings["description"] = [part.strip() for part in parts]
        found[str(settings.get("name", ""))] = settings
    return found


def parse_retention_classes(root: ElementTree.Element) -> dict[str, dict[str, Value]]:
    """Read a ``<retentionClasses>`` document into a dict per class name.

    :param root: the parsed document
    """
    found: dict[str, dict[str, Value]] = {}
    for element in root.iter("retentionClass"):
        settings = xmldoc.attributes(element)
        settings["description"] = element.findtext("description", default="").strip()
        found[str(settings.get("name", ""))] = settings
    return found


def parse_permissions(root: ElementTree.Element) -> dict[str, dict[str, Value]]:
    """Read a ``<permissions>`` document into a dict of flags per permission mask.

    :param root: the parsed document
    """
    return {child.tag: xmldoc.attributes(child) for child in root}
