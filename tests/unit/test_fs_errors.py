"""The errno table of docs/SEMANTICS.md §7, entry by entry."""

import errno

import pytest

from hcpfs.fs.backend import BackendConnectionError, BackendError, IntegrityError
from hcpfs.fs.errors import (
    REQUEST_STATUS_ERRNO,
    STATUS_ERRNO,
    FsError,
    Request,
    errno_for,
    to_fs_error,
)

EXPECTED_STATUS = {
    204: errno.ENOENT,
    304: errno.EIO,
    400: errno.EINVAL,
    401: errno.EACCES,
    403: errno.EACCES,
    404: errno.ENOENT,
    405: errno.EBUSY,
    406: errno.EIO,
    409: errno.EEXIST,
    410: errno.EIO,
    412: errno.ESTALE,
    413: errno.ENOSPC,
    414: errno.ENAMETOOLONG,
    415: errno.EIO,
    416: errno.ESTALE,
    500: errno.EIO,
    501: errno.EOPNOTSUPP,
    503: errno.EIO,
    507: errno.ENOSPC,
}

EXPECTED_REFINED = {
    (Request.DELETE, 403): errno.EPERM,
    (Request.STORE, 403): errno.EPERM,
    (Request.RMDIR, 403): errno.ENOTEMPTY,
    (Request.DELETE, 409): errno.EBUSY,
    (Request.RMDIR, 409): errno.EBUSY,
    (Request.READ, 404): errno.ESTALE,
    (Request.PUT_ANNOTATION, 413): errno.E2BIG,
    (Request.PUT_ANNOTATION, 409): errno.EBUSY,
    (Request.PUT_ANNOTATION, 403): errno.EPERM,
    (Request.DELETE_ANNOTATION, 403): errno.EPERM,
}


def test_status_table_is_exactly_the_documented_one() -> None:
    assert STATUS_ERRNO == EXPECTED_STATUS


def test_refinements_are_exactly_the_documented_ones() -> None:
    assert REQUEST_STATUS_ERRNO == EXPECTED_REFINED


@pytest.mark.parametrize(("status", "expected"), sorted(EXPECTED_STATUS.items()))
def test_each_status_maps_for_every_request_without_refinement(status: int, expected: int) -> None:
    for request in Request:
        refined = EXPECTED_REFINED.get((request, status))
        got = errno_for(BackendError(status, "msg", "/p"), request)
        assert got == (refined if refined is not None else expected), (request, status)


@pytest.mark.parametrize(("key", "expected"), sorted(EXPECTED_REFINED.items(), key=str))
def test_each_refinement_applies_only_to_its_request(
    key: tuple[Request, int], expected: int
) -> None:
    request, status = key
    assert errno_for(BackendError(status), request) == expected
    assert errno_for(BackendError(status)) == EXPECTED_STATUS[status]


@pytest.mark.parametrize("status", [100, 299, 302, 402, 418, 429, 502, 504, 599])
def test_unknown_status_is_eio(status: int) -> None:
    assert errno_for(BackendError(status), Request.READ) == errno.EIO


def test_connection_and_integrity_errors_are_eio() -> None:
    assert errno_for(BackendConnectionError("refused", "/a"), Request.STORE) == errno.EIO
    assert errno_for(IntegrityError("/a", "AA", "BB"), Request.STORE) == errno.EIO


def test_local_os_errors_keep_their_errno() -> None:
    assert errno_for(OSError(errno.ENOSPC, "disk full")) == errno.ENOSPC
    assert errno_for(OSError("no errno")) == errno.EIO


def test_anything_else_is_eio() -> None:
    assert errno_for(ValueError("bug")) == errno.EIO


def test_fs_error_passes_through() -> None:
    original = FsError(errno.EXDEV, "cross", "/x")
    assert errno_for(original, Request.STORE) == errno.EXDEV
    assert to_fs_error(original, Request.STORE) is original


def test_to_fs_error_keeps_message_and_path() -> None:
    error = to_fs_error(BackendError(403, "object under retention", "/a"), Request.DELETE, "/a")
    assert error.errno == errno.EPERM
    assert error.path == "/a"
    assert "object under retention" in error.message
    assert "EPERM" in str(error)


def test_fs_error_default_message_is_strerror() -> None:
    assert FsError(errno.ENOENT).message == "No such file or directory"
