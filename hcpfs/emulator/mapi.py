"""The management API (MAPI) of one emulated HCP system: its replication resources.

The HTTP server that listens on the management port (9090 on a real HCP, at
``admin.<domain>``) turns each request into a :class:`MapiRequest`, passes it to
:meth:`ManagementApi.handle` and writes the :class:`MapiResponse` back unchanged: status,
every header (``Content-Length`` included, also for HEAD) and the body. Nothing here touches a
socket.

Resources, all under ``/mapi/services/replication``:

=========================================  ===================================================
``""``                                     GET, HEAD; POST with a body, ``?shutDownAllLinks=``
                                           or ``?reestablishAllLinks``
``/links``                                 GET, HEAD; PUT creates a link
``/links/<name>``                          GET, HEAD; POST with a body or ``?<action>``; DELETE
``/links/<name>/content/tenants``          GET, HEAD
``/links/<name>/content/tenants/<tenant>`` GET, HEAD; POST ``?pause`` or ``?resume``; PUT;
                                           DELETE
=========================================  ===================================================
"""

from __future__ import annotations

import json
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeAlias, TypeVar
from urllib.parse import unquote

from hcpfs.emulator import credentials
from hcpfs.emulator.replication import (
    Action,
    FailoverSettings,
    InvalidActionError,
    InvalidSettingError,
    Link,
    LinkExistsError,
    LinkType,
    LinkUpdate,
    LinkView,
    NotFoundError,
    Priority,
    ReplicationService,
    ServiceSettings,
    Topology,
    Verification,
)

log = logging.getLogger(__name__)

SOFTWARE_VERSION = "9.0.0.2"
ROLE_MONITOR = "monitor"
ROLE_ADMINISTRATOR = "administrator"
MAX_PATH = 4095

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-DNS-Prefetch-Control": "off",
    "X-Download-Options": "noopen",
    "X-Frame-Options": "SAMEORIGIN",
    "X-XSS-Protection": "1; mode=block",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
}

_XML_TYPE = "application/xml"
_JSON_TYPE = "application/json"
_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
_PREFIX = ("mapi", "services", "replication")
_READ_METHODS = frozenset({"GET", "HEAD"})
_MAX_ERROR_MESSAGE = 512
_T = TypeVar("_T")

# A value in an outgoing document; nested documents keep their children in order.
Scalar: TypeAlias = str | int | float | bool
Document: TypeAlias = "list[tuple[str, Scalar | Document]]"
# A parsed request body: element (or JSON key) to text or to a nested mapping.
Node: TypeAlias = "str | dict[str, Node]"


@dataclass(frozen=True)
class MapiRequest:
    """One request to the management API.

    :param method: the HTTP method
    :param path: the URL path, still percent-encoded, without the query string
    :param query: query parameters; a parameter given without ``=value`` maps to None
    :param headers: request headers; names are looked up case-insensitively
    :param body: the request body
    """

    method: str
    path: str
    query: Mapping[str, str | None] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    body: bytes = field(default=b"", repr=False)
    _folded: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        folded = {name.lower(): value for name, value in self.headers.items()}
        object.__setattr__(self, "_folded", folded)

    def header(self, name: str) -> str | None:
        """Return the value of header ``name`` (any case), or None."""
        return self._folded.get(name.lower())


@dataclass
class MapiResponse:
    """What the HTTP server writes back: status, headers and body, all as they are."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class MapiUser:
    """A system-level management account (not a data-access user).

    :param name: the user name
    :param password: the password in clear text; never shown by ``repr``
    :param roles: ``monitor`` (read) and/or ``administrator`` (read, change, actions)
    """

    name: str
    password: str = field(repr=False)
    roles: frozenset[str] = frozenset({ROLE_MONITOR})

    def may(self, method: str) -> bool:
        """Tell whether the account's roles allow ``method``."""
        if ROLE_ADMINISTRATOR in self.roles:
            return True
        return method in _READ_METHODS and ROLE_MONITOR in self.roles


class _RefusalError(Exception):
    """An answer other than success, decided while handling a request."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class _Call:
    request: MapiRequest
    args: tuple[str, ...]

    @property
    def wants_json(self) -> bool:
        return _JSON_TYPE in (self.request.header("Accept") or "").lower()

    @property
    def verbose(self) -> bool:
        # An invalid Boolean counts as false.
        return (self.request.query.get("verbose") or "").lower() == "true"

    @property
    def pretty(self) -> bool:
        return "prettyprint" in self.request.query


_Handler = Callable[[_Call], MapiResponse]


class ManagementApi:
    """The management API of one system.

    :param system_name: the system this API belongs to (a name known to ``topology``)
    :param users: the system-level accounts
    :param service: the system's replication service settings
    :param topology: the systems and links, shared with the other system's API
    :param software_version: the value of ``X-HCP-SoftwareVersion``
    """

    def __init__(
        self,
        system_name: str,
        users: Iterable[MapiUser],
        service: ReplicationService,
        topology: Topology,
        *,
        software_version: str = SOFTWARE_VERSION,
    ) -> None:
        self.system_name = system_name
        self.service = service
        self.topology = topology
        self._users = {user.name: user for user in users}
        self._software_version = software_version
        self._routes: dict[str, dict[str, _Handler]] = {
            "service": {"GET": self._get_service, "POST": self._post_service},
            "links": {"GET": self._get_links, "PUT": self._put_link},
            "link": {"GET": self._get_link, "POST": self._post_link, "DELETE": self._delete_link},
            "tenants": {"GET": self._get_tenants},
            "tenant": {
                "GET": self._get_tenant,
                "POST": self._post_tenant,
                "PUT": self._put_tenant,
                "DELETE": self._delete_tenant,
            },
        }

    def handle(self, request: MapiRequest) -> MapiResponse:
        """Answer one request; never raises.

        :param request: the request as the HTTP server received it
        """
        started = time.monotonic()
        try:
            response = self._answer(request)
        except Exception:
            log.exception("management request %s %s failed", request.method, request.path)
            response = _error(500, "internal error")
        response.headers.setdefault("Content-Length", str(len(response.body)))
        response.headers["X-HCP-SoftwareVersion"] = self._software_version
        response.headers.update(SECURITY_HEADERS)
        elapsed = (time.monotonic() - started) * 1000
        log.debug("%s %s -> %d (%.1f ms)", request.method, request.path, response.status, elapsed)
        return response

    def _answer(self, request: MapiRequest) -> MapiResponse:
        head = request.method.upper() == "HEAD"
        try:
            return self._dispatch(request)
        except _RefusalError as exc:
            return _error(exc.status, exc.message, exc.headers)
        except NotFoundError as exc:
            # HEAD answers 302, not 404, for a resource that does not exist.
            return _error(302 if head else 404, str(exc))
        except LinkExistsError as exc:
            return _error(409, str(exc))
        except (InvalidActionError, InvalidSettingError) as exc:
            return _error(400, str(exc))

    def _dispatch(self, request: MapiRequest) -> MapiResponse:
        if len(request.path.encode("utf-8")) > MAX_PATH:
            raise _RefusalError(414, "the URL path is too long")
        user = self._authenticate(request)
        kind, args = _route(request.path)
        method = request.method.upper()
        handlers = self._routes[kind]
        handler = handlers.get("GET" if method == "HEAD" else method)
        if handler is None:
            allowed = ", ".join(sorted({*handlers, "HEAD"}))
            raise _RefusalError(405, f"{method} is not supported here", {"Allow": allowed})
        if not user.may(method):
            raise _RefusalError(403, f"the monitor role does not allow {method}")
        response = handler(_Call(request, args))
        if method == "HEAD":
            response.headers["Content-Length"] = str(len(response.body))
            response.body = b""
        return response

    def _authenticate(self, request: MapiRequest) -> MapiUser:
        try:
            presented = credentials.parse(
                request.header("Authorization"), request.header("Cookie"), credentials.MAPI_COOKIE
            )
        except credentials.CredentialsError as exc:
            raise _RefusalError(403, f"invalid credentials: {exc}") from None
        if presented.scheme is credentials.Scheme.ANONYMOUS:
            raise _RefusalError(403, "the management API requires credentials")
        user = self._users.get(presented.user)
        if user is None or not presented.matches(user.password):
            raise _RefusalError(403, "invalid credentials")
        if not user.roles & {ROLE_MONITOR, ROLE_ADMINISTRATOR}:
            raise _RefusalError(
                403, "the account has neither the monitor nor the administrator role"
            )
        return user

    # -- replication service -------------------------------------------------------------

    def _get_service(self, call: _Call) -> MapiResponse:
        settings = self.service.settings
        doc: Document = [
            ("allowTenantsToMonitorNamespaces", settings.allow_tenants_to_monitor_namespaces),
            ("enableDNSFailover", settings.enable_dns_failover),
            ("network", settings.network),
            ("connectivityTimeoutSeconds", settings.connectivity_timeout_seconds),
        ]
        if call.verbose:
            doc.append(("status", self.service.status.value))
        doc.append(("verification", settings.verification.value))
        return _document(call, "replicationService", doc)

    def _post_service(self, call: _Call) -> MapiResponse:
        query = call.request.query
        shut_down, reestablish = "shutDownAllLinks" in query, "reestablishAllLinks" in query
        if shut_down and reestablish:
            raise _RefusalError(400, "shutDownAllLinks and reestablishAllLinks exclude each other")
        links = self.topology.links_of(self.system_name)
        if shut_down:
            _require_no_body(call)
            self.service.shut_down(query["shutDownAllLinks"] or "", links)
        elif reestablish:
            _require_no_body(call)
            self.service.reestablish(links)
        else:
            fields = _Fields(_read_body(call, "replicationService"), "replicationService")
            self.service.update(_service_settings(fields, self.service.settings))
        return _ok()

    # -- links ---------------------------------------------------------------------------

    def _get_links(self, call: _Call) -> MapiResponse:
        names = [link.name for link in self.topology.links_of(self.system_name)]
        return _names(call, "links", names)

    def _put_link(self, call: _Call) -> MapiResponse:
        fields = _Fields(_read_body(call, "link"), "link")
        update = _link_update(fields)
        name = fields.text("name")
        remote_host = update.remote_host
        if not name or update.type is None or not remote_host:
            raise _RefusalError(400, "a new link needs name, type and connection/remoteHost")
        remote = self.topology.resolve(remote_host)
        if remote is None or remote.name == self.system_name:
            raise _RefusalError(400, f"remoteHost {remote_host} is not another HCP system")
        self.topology.create_link(name, self.system_name, remote.name, update.type, update)
        return _ok()

    def _get_link(self, call: _Call) -> MapiResponse:
        view = self._link(call.args[0]).view(self.system_name)
        return _document(call, "link", _link_document(view, call.verbose))

    def _post_link(self, call: _Call) -> MapiResponse:
        link = self._link(call.args[0])
        actions = [a for a in map(Action.parse, call.request.query) if a is not None]
        if call.request.body:
            if actions:
                raise _RefusalError(400, "a link action request must have no body")
            self._modify_link(call, link)
            return _ok()
        if len(actions) != 1:
            given = ", ".join(call.request.query) or "none"
            raise _RefusalError(400, f"name exactly one link action (given: {given})")
        link.apply(actions[0], self.system_name)
        return _ok()

    def _modify_link(self, call: _Call, link: Link) -> None:
        fields = _Fields(_read_body(call, "link"), "link")
        name = fields.text("name")
        if name is not None and name.casefold() != link.name.casefold():
            # Renaming would need the other system's consent; the emulator does not offer it.
            raise _RefusalError(400, "a link cannot be renamed")
        link.update(self.system_name, _link_update(fields))

    def _delete_link(self, call: _Call) -> MapiResponse:
        self.topology.delete(self._link(call.args[0]).name)
        return _ok()

    def _link(self, name: str) -> Link:
        link = self.topology.find(name)
        if link is None or not link.involves(self.system_name):
            raise NotFoundError(f"no link named {name}")
        return link

    # -- tenants on a link ---------------------------------------------------------------

    def _get_tenants(self, call: _Call) -> MapiResponse:
        return _names(call, "tenants", self._link(call.args[0]).tenants())

    def _get_tenant(self, call: _Call) -> MapiResponse:
        tenant = self._link(call.args[0]).tenant_view(self.system_name, call.args[1])
        doc: Document = [
            ("status", tenant.status.value),
            ("upToDateAsOfString", _time_string(tenant.up_to_date_millis)),
            ("upToDateAsOfMillis", tenant.up_to_date_millis),
            ("objectsPending", tenant.objects_pending),
            ("bytesPending", tenant.bytes_pending),
            ("objectsPendingRemote", tenant.objects_pending_remote),
            ("bytesPendingRemote", tenant.bytes_pending_remote),
        ]
        return _document(call, "tenant", doc)

    def _post_tenant(self, call: _Call) -> MapiResponse:
        link = self._link(call.args[0])
        _require_no_body(call)
        query = call.request.query
        pause, resume = "pause" in query, "resume" in query
        if pause == resume:
            raise _RefusalError(400, "name exactly one of pause and resume")
        link.pause_tenant(call.args[1], paused=pause)
        return _ok()

    def _put_tenant(self, call: _Call) -> MapiResponse:
        link = self._link(call.args[0])
        _require_no_body(call)
        link.add_tenant(call.args[1])
        return _ok()

    def _delete_tenant(self, call: _Call) -> MapiResponse:
        self._link(call.args[0]).remove_tenant(call.args[1])
        return _ok()


# -- routing -------------------------------------------------------------------------------


def _route(path: str) -> tuple[str, tuple[str, ...]]:
    """Return the kind of resource ``path`` names and its decoded arguments."""
    parts = path.rstrip("/").split("/")
    if parts[:1] != [""]:
        raise NotFoundError(f"no resource at {path}")
    try:
        segments = [unquote(part, errors="strict") for part in parts[1:]]
    except UnicodeDecodeError:
        raise _RefusalError(400, "the URL path is not valid percent-encoded UTF-8") from None
    if tuple(segments[:3]) != _PREFIX or "" in segments:
        raise NotFoundError(f"no resource at {path}")
    rest = segments[3:]
    if not rest:
        return "service", ()
    if rest[0] != "links":
        raise NotFoundError(f"no resource at {path}")
    if len(rest) <= 2:
        return ("links", ()) if len(rest) == 1 else ("link", (rest[1],))
    if rest[2:4] != ["content", "tenants"] or len(rest) > 5:
        raise NotFoundError(f"no resource at {path}")
    # .../links/<link>/content/tenants[/<tenant>]
    return ("tenants", (rest[1],)) if len(rest) == 4 else ("tenant", (rest[1], rest[4]))


# -- request bodies ------------------------------------------------------------------------


def _require_no_body(call: _Call) -> None:
    if call.request.body:
        raise _RefusalError(400, "this replication request must have no body")


def _read_body(call: _Call, root: str) -> dict[str, Node]:
    """Parse an XML or JSON body whose XML root element is ``root``."""
    body = call.request.body
    content_type = (call.request.header("Content-Type") or "").split(";")[0].strip().lower()
    if not body.strip():
        raise _RefusalError(400, f"the request needs a {root} body")
    if content_type == _XML_TYPE:
        return _parse_xml(body, root)
    if content_type == _JSON_TYPE:
        return _parse_json(body)
    if not content_type:
        raise _RefusalError(415, "a request body needs a Content-Type")
    raise _RefusalError(415, f"unsupported Content-Type {content_type}")


def _parse_xml(body: bytes, root: str) -> dict[str, Node]:
    if b"<!DOCTYPE" in body.upper():
        raise _RefusalError(400, "DOCTYPE declarations are not accepted")
    try:
        # Without a DOCTYPE no entity can be declared, so nothing can expand.
        element = ET.fromstring(body)  # noqa: S314
    except ET.ParseError as exc:
        raise _RefusalError(400, f"the body is not well-formed XML: {exc}") from None
    if element.tag != root:
        raise _RefusalError(400, f"the root element must be {root}, not {element.tag}")
    tree = _xml_node(element)
    return tree if isinstance(tree, dict) else {}


def _xml_node(element: ET.Element) -> Node:
    children = list(element)
    if not children:
        return (element.text or "").strip()
    node: dict[str, Node] = {}
    for child in children:
        if child.tag in node:
            raise _RefusalError(400, f"element {child.tag} appears more than once")
        node[child.tag] = _xml_node(child)
    return node


def _parse_json(body: bytes) -> dict[str, Node]:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _RefusalError(400, f"the body is not valid JSON: {exc}") from None
    node = _json_node(value)
    if not isinstance(node, dict):
        raise _RefusalError(400, "the JSON body must be an object")
    return node


def _json_node(value: object) -> Node:
    if isinstance(value, dict):
        return {str(key): _json_node(item) for key, item in value.items()}
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if value is None:
        return ""
    raise _RefusalError(400, "lists are not accepted in this request body")


class _Fields:
    """Typed access to a parsed body; every refusal names the property."""

    def __init__(self, node: dict[str, Node], where: str) -> None:
        self._node = node
        self._where = where

    def check(self, known: Iterable[str], read_only: Iterable[str] = ()) -> None:
        for key in self._node:
            if key in read_only:
                raise _RefusalError(403, f"{self._where}/{key} cannot be modified")
            if key not in known:
                raise _RefusalError(400, f"unknown property {self._where}/{key}")

    def text(self, key: str) -> str | None:
        value = self._node.get(key)
        if isinstance(value, dict):
            raise _RefusalError(400, f"{self._where}/{key} must be a single value")
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.text(key)
        if value is None:
            return None
        if value.lower() not in ("true", "false"):
            raise _RefusalError(400, f"{self._where}/{key} must be true or false")
        return value.lower() == "true"

    def integer(self, key: str) -> int | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise _RefusalError(400, f"{self._where}/{key} must be an integer") from None

    def choice(self, key: str, allowed: Iterable[str]) -> str | None:
        value = self.text(key)
        if value is None:
            return None
        if value.upper() not in allowed:
            raise _RefusalError(400, f"{self._where}/{key} must be one of {', '.join(allowed)}")
        return value.upper()

    def group(self, key: str) -> _Fields | None:
        value = self._node.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            if value:
                raise _RefusalError(400, f"{self._where}/{key} must contain elements")
            return _Fields({}, f"{self._where}/{key}")
        return _Fields(value, f"{self._where}/{key}")


_LINK_PROPERTIES = (
    "compression",
    "connection",
    "description",
    "encryption",
    "failoverSettings",
    "name",
    "priority",
    "type",
)
_LINK_READ_ONLY = ("id", "statistics", "status", "statusMessage", "suspended")
_CONNECTION_PROPERTIES = ("localHost", "localPort", "remoteHost", "remotePort")
_FAILOVER_PROPERTIES = {
    "autoFailover": "auto_failover",
    "autoFailoverMinutes": "auto_failover_minutes",
    "autoCompleteRecovery": "auto_complete_recovery",
    "autoCompleteRecoveryMinutes": "auto_complete_recovery_minutes",
}


def _link_update(fields: _Fields) -> LinkUpdate:
    fields.check(_LINK_PROPERTIES, _LINK_READ_ONLY)
    link_type = fields.choice("type", [t.value for t in LinkType])
    priority = fields.choice("priority", [p.value for p in Priority])
    connection = fields.group("connection") or _Fields({}, "link/connection")
    connection.check(_CONNECTION_PROPERTIES)
    failover = fields.group("failoverSettings") or _Fields({}, "link/failoverSettings")
    failover.check(("local", "remote"))
    return LinkUpdate(
        type=None if link_type is None else LinkType(link_type),
        description=fields.text("description"),
        priority=None if priority is None else Priority(priority),
        compression=fields.boolean("compression"),
        encryption=fields.boolean("encryption"),
        local_host=connection.text("localHost"),
        local_port=connection.integer("localPort"),
        remote_host=connection.text("remoteHost"),
        remote_port=connection.integer("remotePort"),
        failover_local=_failover_changes(failover.group("local")),
        failover_remote=_failover_changes(failover.group("remote")),
    )


def _failover_changes(fields: _Fields | None) -> dict[str, bool | int] | None:
    if fields is None:
        return None
    fields.check(_FAILOVER_PROPERTIES)
    changes: dict[str, bool | int] = {}
    for key, attribute in _FAILOVER_PROPERTIES.items():
        value = fields.integer(key) if key.endswith("Minutes") else fields.boolean(key)
        if value is not None:
            changes[attribute] = value
    return changes


_SERVICE_PROPERTIES = (
    "allowTenantsToMonitorNamespaces",
    "enableDNSFailover",
    "network",
    "connectivityTimeoutSeconds",
    "verification",
    # Deprecated; older systems still report it, so a body copied from one is accepted.
    "enableDomainAndCertificateSynchronization",
)


def _service_settings(fields: _Fields, current: ServiceSettings) -> ServiceSettings:
    fields.check(_SERVICE_PROPERTIES, ("status",))
    allow = fields.boolean("allowTenantsToMonitorNamespaces")
    dns = fields.boolean("enableDNSFailover")
    timeout = fields.integer("connectivityTimeoutSeconds")
    verification = fields.choice("verification", [v.value for v in Verification])
    return ServiceSettings(
        allow_tenants_to_monitor_namespaces=_pick(
            allow, current.allow_tenants_to_monitor_namespaces
        ),
        enable_dns_failover=_pick(dns, current.enable_dns_failover),
        network=_pick(fields.text("network"), current.network),
        connectivity_timeout_seconds=_pick(timeout, current.connectivity_timeout_seconds),
        verification=current.verification if verification is None else Verification(verification),
    )


def _pick(given: _T | None, current: _T) -> _T:
    return current if given is None else given


# -- responses -----------------------------------------------------------------------------


def _ok() -> MapiResponse:
    return MapiResponse(200, {"Content-Length": "0"})


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> MapiResponse:
    response = MapiResponse(status, {"X-HCP-ErrorMessage": _header_text(message)})
    response.headers.update(headers or {})
    return response


def _header_text(text: str) -> str:
    """Make ``text`` safe as a header value: printable ASCII only, bounded length."""
    safe = "".join(c if " " <= c <= "~" else "?" for c in text)
    return safe[:_MAX_ERROR_MESSAGE]


def _document(call: _Call, root: str, doc: Document) -> MapiResponse:
    if call.wants_json:
        body = _json_bytes(_json_value(doc), call.pretty)
        return MapiResponse(200, {"Content-Type": f"{_JSON_TYPE};charset=UTF-8"}, body)
    element = ET.Element(root)
    _fill(element, doc)
    return _xml_response(element, call.pretty)


def _names(call: _Call, root: str, names: list[str]) -> MapiResponse:
    if call.wants_json:
        body = _json_bytes({"name": names}, call.pretty)
        return MapiResponse(200, {"Content-Type": f"{_JSON_TYPE};charset=UTF-8"}, body)
    element = ET.Element(root)
    for name in names:
        ET.SubElement(element, "name").text = name
    return _xml_response(element, call.pretty)


def _xml_response(element: ET.Element, pretty: bool) -> MapiResponse:
    if pretty:
        ET.indent(element)
    separator = b"\n" if pretty else b""
    text = ET.tostring(element, encoding="unicode").encode("utf-8")
    body = _XML_DECLARATION + separator + text
    return MapiResponse(200, {"Content-Type": f"{_XML_TYPE};charset=UTF-8"}, body)


def _fill(parent: ET.Element, doc: Document) -> None:
    for key, value in doc:
        child = ET.SubElement(parent, key)
        if isinstance(value, list):
            _fill(child, value)
        elif isinstance(value, bool):
            child.text = "true" if value else "false"
        else:
            child.text = str(value)


def _json_value(doc: Document) -> dict[str, object]:
    return {key: _json_value(value) if isinstance(value, list) else value for key, value in doc}


def _json_bytes(value: object, pretty: bool) -> bytes:
    return json.dumps(value, indent=2 if pretty else None, ensure_ascii=False).encode("utf-8")


def _time_string(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S%z")


def _link_document(view: LinkView, verbose: bool) -> Document:
    """Lay out a link with the children, order and nesting HCP uses."""
    connection = view.connection
    doc: Document = [
        ("compression", view.compression),
        (
            "connection",
            [
                ("localHost", connection.local_host),
                ("localPort", connection.local_port),
                ("remoteHost", connection.remote_host),
                ("remotePort", connection.remote_port),
            ],
        ),
        ("description", view.description),
        ("encryption", view.encryption),
        ("failoverSettings", _failover_document(view)),
    ]
    if verbose:
        doc.append(("id", view.id))
    doc += [("name", view.name), ("priority", view.priority.value)]
    if verbose:
        doc += [
            ("statistics", _statistics_document(view)),
            ("status", view.status.value),
            ("statusMessage", view.status_message),
            ("suspended", view.suspended),
        ]
    doc.append(("type", view.type.value))
    return doc


def _failover_document(view: LinkView) -> Document:
    passive = view.type is not LinkType.ACTIVE_ACTIVE
    doc: Document = []
    for side, settings in (("local", view.failover_local), ("remote", view.failover_remote)):
        if settings is not None:
            doc.append((side, _failover_side(settings, passive)))
    return doc


def _failover_side(settings: FailoverSettings, passive: bool) -> Document:
    doc: Document = [
        ("autoFailover", settings.auto_failover),
        ("autoFailoverMinutes", settings.auto_failover_minutes),
    ]
    if passive:
        doc += [
            ("autoCompleteRecovery", settings.auto_complete_recovery),
            ("autoCompleteRecoveryMinutes", settings.auto_complete_recovery_minutes),
        ]
    return doc


def _statistics_document(view: LinkView) -> Document:
    stats = view.statistics
    return [
        ("upToDateAsOfString", _time_string(stats.up_to_date_millis)),
        ("upToDateAsOfMillis", stats.up_to_date_millis),
        ("bytesPending", stats.bytes_pending),
        ("bytesPendingRemote", stats.bytes_pending_remote),
        ("bytesReplicated", stats.bytes_replicated),
        ("bytesPerSecond", stats.bytes_per_second),
        ("objectsPending", stats.objects_pending),
        ("objectsPendingRemote", stats.objects_pending_remote),
        ("objectsReplicated", stats.objects_replicated),
        ("operationsPerSecond", stats.operations_per_second),
        ("errors", stats.errors),
        ("errorsPerSecond", stats.errors_per_second),
        ("objectsVerified", stats.objects_verified),
        ("objectsReplicatedAfterVerification", stats.objects_replicated_after_verification),
    ]
