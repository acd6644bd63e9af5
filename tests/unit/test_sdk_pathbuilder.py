"""Unique object names and their paths, as the original hcpsdk built them."""

from __future__ import annotations

import uuid
from xml.etree import ElementTree

import pytest

from hcpfs.sdk import HcpsdkError
from hcpfs.sdk.pathbuilder import PathBuilder, PathBuilderError

# The example from the original hcpsdk documentation: bytes 4 and 3 are b4 and ec.
EXAMPLE = uuid.UUID("8ac8ecb4-9f1e-11e4-a524-98fe94437d8c")


def test_documented_example() -> None:
    builder = PathBuilder(initialpath="/rest/mypath", uuidgen=lambda: EXAMPLE)
    assert builder.getunique("testfile.txt") == ("/rest/mypath/b4/ec", str(EXAMPLE))
    assert builder.getpath(str(EXAMPLE)) == f"/rest/mypath/b4/ec/{EXAMPLE}"


def test_default_names_are_version_1_uuids_under_the_default_path() -> None:
    path, name = PathBuilder().getunique("x")
    assert uuid.UUID(name).version == 1
    assert path.startswith("/rest/hcpsdk/")
    assert len(path.split("/")) == 5


def test_getpath_finds_what_getunique_built() -> None:
    builder = PathBuilder("/rest/data")
    for _ in range(50):
        path, name = builder.getunique("f")
        assert builder.getpath(name) == f"{path}/{name}"
        raw = uuid.UUID(name).bytes
        assert path == f"/rest/data/{raw[3]:02x}/{raw[2]:02x}"


def test_annotation_holds_the_original_file_name() -> None:
    builder = PathBuilder("/rest/p", annotation=True, uuidgen=lambda: EXAMPLE)
    filename = 'Bericht "März" <1>&2.txt'
    path, name, annotation = builder.getunique(filename)
    assert annotation.startswith("<?xml version='1.0' encoding='utf-8'?>")
    root = ElementTree.fromstring(annotation.encode("utf-8"))
    assert root.tag == "hcpsdk_fileobject"
    assert root.attrib == {"filename": filename, "path": path, "uuid": name}


@pytest.mark.parametrize("name", ["", "not-a-uuid", "../../etc/passwd"])
def test_getpath_refuses_foreign_names(name: str) -> None:
    with pytest.raises(PathBuilderError) as failure:
        PathBuilder().getpath(name)
    assert isinstance(failure.value, HcpsdkError)


def test_uuid_failure_becomes_pathbuilder_error() -> None:
    def broken() -> uuid.UUID:
        raise OSError("no clock")

    with pytest.raises(PathBuilderError, match="no clock"):
        PathBuilder(uuidgen=broken).getunique("x")
