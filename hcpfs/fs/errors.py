"""The one place where HCP's answers and local failures become errno values.

``STATUS_ERRNO`` maps each HTTP status HCP documents; ``REQUEST_STATUS_ERRNO`` refines a status
for one kind of request, where HCP gives the same status several meanings. Everything else is
EIO. docs/SEMANTICS.md §7 is the table in prose.
"""

from __future__ import annotations

import errno
import os
from enum import Enum
from typing import Final

from hcpfs.fs.backend import BackendConnectionError, BackendError, IntegrityError


class Request(Enum):
    """The kinds of backend request, for the refinements of ``REQUEST_STATUS_ERRNO``."""

    NAMESPACE_INFO = "namespace_info"
    STATISTICS = "statistics"
    STAT = "stat"
    LISTDIR = "listdir"
    READ = "read"
    STORE = "store"
    COPY = "copy"
    DELETE = "delete"
    MKDIR = "mkdir"
    RMDIR = "rmdir"
    SYMLINK = "symlink"
    SET_METADATA = "set_metadata"
    GET_ANNOTATION = "get_annotation"
    PUT_ANNOTATION = "put_annotation"
    DELETE_ANNOTATION = "delete_annotation"
    LIST_ANNOTATIONS = "list_annotations"


class FsError(Exception):
    """A refusal of the filesystem, carrying the errno the program will see.

    :param errno: the errno value
    :param message: why, for the log
    :param path: the path concerned, if any
    """

    def __init__(self, errno: int, message: str = "", path: str = "") -> None:
        super().__init__(errno, message, path)
        self.errno = errno
        self.message = message or os.strerror(errno)
        self.path = path

    def __str__(self) -> str:
        name = errno.errorcode.get(self.errno, str(self.errno))
        where = f" ({self.path})" if self.path else ""
        return f"{name}{where}: {self.message}"


STATUS_ERRNO: Final[dict[int, int]] = {
    # 204 only reaches here from a request that needs content, e.g. a delete marker.
    204: errno.ENOENT,
    # 304 follows a condition hcpfs never sends; treat it as a protocol surprise.
    304: errno.EIO,
    # A value HCP rejects (retention shortening, retention and hold together, bad parameter).
    400: errno.EINVAL,
    # /proc answers 401 to users without access to the namespace.
    401: errno.EACCES,
    # Missing permission; retention and non-empty directories are refined per request below.
    403: errno.EACCES,
    404: errno.ENOENT,
    # Being deleted, or a copy source that cannot be read right now: transient.
    405: errno.EBUSY,
    # Only a client bug causes 406.
    406: errno.EIO,
    # The object or directory already exists (no versioning) or a version is being added.
    409: errno.EEXIST,
    # The data lives on another system of a replication topology and the client did not find it.
    410: errno.EIO,
    # If-Match failed: the object changed under an open handle, like a stale NFS handle.
    412: errno.ESTALE,
    # Quota of the namespace; object size and annotation size are refined where they apply.
    413: errno.ENOSPC,
    414: errno.ENAMETOOLONG,
    415: errno.EIO,
    # hcpfs never asks for a range past the end; if HCP thinks so, the object changed.
    416: errno.ESTALE,
    500: errno.EIO,
    501: errno.EOPNOTSUPP,
    # The client already retried with backoff; EAGAIN would make some programs spin.
    503: errno.EIO,
    507: errno.ENOSPC,
}

REQUEST_STATUS_ERRNO: Final[dict[tuple[Request, int], int]] = {
    # DELETE of an object is refused with 403 for retention or hold: a policy, not a permission.
    (Request.DELETE, 403): errno.EPERM,
    # A new version of an object under retention or on hold.
    (Request.STORE, 403): errno.EPERM,
    # HCP's 403 for a non-empty directory; the core asks a listing before trusting it.
    (Request.RMDIR, 403): errno.ENOTEMPTY,
    # 409 on DELETE means "being written": try again later.
    (Request.DELETE, 409): errno.EBUSY,
    (Request.RMDIR, 409): errno.EBUSY,
    # An object vanished under an open handle.
    (Request.READ, 404): errno.ESTALE,
    # setxattr of an annotation larger than HCP accepts.
    (Request.PUT_ANNOTATION, 413): errno.E2BIG,
    # 409 on an annotation means many writers at once: transient.
    (Request.PUT_ANNOTATION, 409): errno.EBUSY,
    # Annotation changes refused under retention by the namespace's policy.
    (Request.PUT_ANNOTATION, 403): errno.EPERM,
    (Request.DELETE_ANNOTATION, 403): errno.EPERM,
}


def errno_for(error: BaseException, request: Request | None = None) -> int:
    """Return the errno a program should see for ``error``.

    :param error: a backend error, a local ``OSError`` or anything else
    :param request: the kind of request that failed, for the refinements
    """
    if isinstance(error, FsError):
        return error.errno
    if isinstance(error, BackendError):
        refined = REQUEST_STATUS_ERRNO.get((request, error.status)) if request else None
        return refined if refined is not None else STATUS_ERRNO.get(error.status, errno.EIO)
    if isinstance(error, BackendConnectionError | IntegrityError):
        # Unreachable after retries, or stored data that does not match: both are I/O errors.
        return errno.EIO
    if isinstance(error, OSError) and error.errno:
        # Local failures (the staging disk) keep their own errno, e.g. ENOSPC.
        return error.errno
    return errno.EIO


def to_fs_error(error: BaseException, request: Request | None = None, path: str = "") -> FsError:
    """Wrap ``error`` in an :class:`FsError` with the errno of :func:`errno_for`.

    :param error: the failure
    :param request: the kind of request that failed
    :param path: the path concerned
    """
    if isinstance(error, FsError):
        return error
    return FsError(errno_for(error, request), str(error), path)
