"""Replication management through HCP's management API (MAPI).

The target must be made for the system's ``admin`` host name (``admin.hcp.example.com``) on
port 9090, with a system-level account: monitor role to read, administrator role to act on
links. Values come back as the text HCP sent, as the original hcpsdk returned them.
"""

from __future__ import annotations

import logging
from typing import ClassVar
from urllib.parse import quote
from xml.etree import ElementTree

from hcpfs.sdk import xmldoc
from hcpfs.sdk.connection import Connection
from hcpfs.sdk.constants import P_HTTP, P_HTTPS, P_MAPI, P_MGMT, P_SEARCH
from hcpfs.sdk.errors import HcpsdkError, HcpsdkPortError
from hcpfs.sdk.target import Target
from hcpfs.sdk.xmldoc import TextTree

log = logging.getLogger(__name__)

REPLICATION = "/mapi/services/replication"
LINKS = f"{REPLICATION}/links"

# Ports that serve something else for sure; other ports may front the MAPI (e.g. a gateway).
_NOT_MAPI_PORTS = frozenset({P_HTTP, P_HTTPS, P_MGMT, P_SEARCH})


class ReplicationSettingsError(HcpsdkError, ValueError):
    """An unknown action or link type, or an action that the link type does not allow."""


class Replication:
    """Reads the replication service and its links, and changes the state of a link.

    :param target: a target for ``admin.<domain>`` on port 9090
    :param debuglevel: accepted for compatibility and ignored
    :param timeout: seconds to wait for HCP to answer
    :raises HcpsdkPortError: when the target uses a port that is not the MAPI's
    """

    R_ACTIVE_ACTIVE: ClassVar[str] = "ACTIVE_ACTIVE"
    R_OUTBOUND: ClassVar[str] = "OUTBOUND"
    R_INBOUND: ClassVar[str] = "INBOUND"

    R_SUSPEND: ClassVar[str] = "suspend"
    R_RESUME: ClassVar[str] = "resume"
    R_RESTORE: ClassVar[str] = "restore"
    R_FAILOVER: ClassVar[str] = "failOver"
    R_FAILBACK: ClassVar[str] = "failBack"
    R_BEGINRECOVERY: ClassVar[str] = "beginRecovery"
    R_COMPLETERECOVERY: ClassVar[str] = "completeRecovery"

    def __init__(self, target: Target, debuglevel: int = 0, *, timeout: float = 30.0) -> None:
        if target.port in _NOT_MAPI_PORTS:
            raise HcpsdkPortError(f"the management API is on port {P_MAPI}, not {target.port}")
        self.target = target
        self.debuglevel = debuglevel
        self.timeout = timeout
        #: Seconds the last request spent connecting.
        self.connect_time = 0.0
        #: Seconds the last request took until its body was read.
        self.service_time = 0.0

    def getreplicationsettings(self) -> dict[str, TextTree]:
        """Return the replication service settings (``GET /mapi/services/replication``).

        :return: e.g. ``{'enableDNSFailover': 'true', 'network': '[hcp_system]', ...}``
        """
        return parse_settings(self._fetch(REPLICATION, verbose=True))

    def getlinklist(self) -> list[str]:
        """Return the names of the replication links."""
        return parse_link_list(self._fetch(LINKS))

    def getlinkdetails(self, link: str) -> dict[str, TextTree]:
        """Return everything about a link (a verbose GET), nested as HCP nests it.

        :param link: the link name, as :meth:`getlinklist` returns it
        :return: e.g. ``{'type': 'ACTIVE_ACTIVE', 'statistics': {'errors': '0', ...}, ...}``
        """
        return parse_link(self._fetch(link_path(link), verbose=True))

    def setreplicationlinkstate(
        self, linkname: str, action: str, linktype: str | None = None
    ) -> None:
        """Act on a link: suspend, resume, restore, fail over, fail back or recover.

        Actions are checked against the link type first: ``failBack`` is for active/active
        links only, ``beginRecovery`` and ``completeRecovery`` for the replica side of an
        active/passive link (``INBOUND``), and ``failOver`` is refused on the primary side
        (``OUTBOUND``). Without ``linktype`` these actions look the type up first.

        :param linkname: the link name
        :param action: one of the ``R_*`` actions
        :param linktype: ``R_ACTIVE_ACTIVE``, ``R_OUTBOUND`` or ``R_INBOUND``
        :raises ReplicationSettingsError: when the action or type is unknown or not allowed
        :raises HcpsdkError: with status and ``X-HCP-ErrorMessage`` when HCP refuses
        """
        check_action(action, linktype)
        if linktype is None and action in _TYPED_ACTIONS:
            details = self.getlinkdetails(linkname)
            check_action(action, str(details.get("type", "")).upper())
        path = link_path(linkname)
        with Connection(self.target, timeout=self.timeout) as connection:
            connection.POST(path, params={action: None})
            connection.read()
            xmldoc.expect_status(connection, 200, f"POST {path}?{action}")
        log.debug("link %s: %s done", linkname, action)

    def _fetch(self, path: str, verbose: bool = False) -> ElementTree.Element:
        params = {"verbose": "true"} if verbose else None
        with Connection(self.target, timeout=self.timeout) as connection:
            root = xmldoc.fetch(connection, path, params)
            self.connect_time = connection.connect_time
            self.service_time = connection.service_time2
        return root


_LINK_TYPES = frozenset(
    {Replication.R_ACTIVE_ACTIVE, Replication.R_OUTBOUND, Replication.R_INBOUND}
)
_UNTYPED_ACTIONS = frozenset({Replication.R_SUSPEND, Replication.R_RESUME, Replication.R_RESTORE})
# The link types each type-dependent action is allowed on.
_ALLOWED_ON: dict[str, frozenset[str]] = {
    Replication.R_FAILOVER: frozenset({Replication.R_ACTIVE_ACTIVE, Replication.R_INBOUND}),
    Replication.R_FAILBACK: frozenset({Replication.R_ACTIVE_ACTIVE}),
    Replication.R_BEGINRECOVERY: frozenset({Replication.R_INBOUND}),
    Replication.R_COMPLETERECOVERY: frozenset({Replication.R_INBOUND}),
}
_TYPED_ACTIONS = frozenset(_ALLOWED_ON)


def check_action(action: str, linktype: str | None) -> None:
    """Refuse unknown actions and types, and actions the link type does not allow.

    :param action: one of the ``R_*`` actions
    :param linktype: the link type, or None when it is not known yet
    :raises ReplicationSettingsError: when the combination is not valid
    """
    if action not in _UNTYPED_ACTIONS and action not in _TYPED_ACTIONS:
        raise ReplicationSettingsError(f"unknown link action {action!r}")
    if linktype is not None and linktype not in _LINK_TYPES:
        raise ReplicationSettingsError(f"unknown link type {linktype!r}")
    if linktype is not None and action in _TYPED_ACTIONS and linktype not in _ALLOWED_ON[action]:
        raise ReplicationSettingsError(f"{action} is not allowed on a {linktype} link")


def link_path(link: str) -> str:
    """The MAPI path of a link; link names may hold spaces and other characters.

    :param link: the link name
    """
    return f"{LINKS}/{quote(link, safe='')}"


def parse_settings(root: ElementTree.Element) -> dict[str, TextTree]:
    """Read a ``<replicationService>`` document into a dict of child name to text.

    :param root: the parsed document
    """
    return {child.tag: xmldoc.text_tree(child) for child in root}


def parse_link_list(root: ElementTree.Element) -> list[str]:
    """Read a ``<links>`` document into the list of link names.

    :param root: the parsed document
    """
    return [(element.text or "").strip() for element in root.iter("name")]


def parse_link(root: ElementTree.Element) -> dict[str, TextTree]:
    """Read a ``<link>`` document into nested dicts of text.

    :param root: the parsed document
    """
    return {child.tag: xmldoc.text_tree(child) for child in root}
