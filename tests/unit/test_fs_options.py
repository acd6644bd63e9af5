"""Mount options, docs/SEMANTICS.md §9."""

import os
from pathlib import Path

import pytest

from hcpfs.fs.options import MIB, Options, OptionsError, Overwrite, default_staging_dir


def test_defaults() -> None:
    options = Options()
    assert not options.read_only
    assert options.uid == os.getuid()
    assert options.gid == os.getgid()
    assert options.umask == 0o022
    assert options.overwrite is Overwrite.REPLACE
    assert (options.attr_ttl, options.listing_ttl, options.statfs_ttl) == (1.0, 1.0, 30.0)
    assert options.readahead_max == 16 * MIB
    assert options.prefetch_files == 8


def test_parse_every_kind_of_value(tmp_path: Path) -> None:
    options = Options.parse(
        f"ro,allow_other,uid=1000,gid=100,umask=027,attr_ttl=2.5,listing-ttl=0,"
        f"staging_dir={tmp_path},overwrite=refuse,readahead_max=32M,read_part_size=512k,"
        f"read_threads=3,cache_entries=10,prefetch_files=0"
    )
    assert options.read_only
    assert options.allow_other
    assert (options.uid, options.gid, options.umask) == (1000, 100, 0o027)
    assert options.attr_ttl == 2.5
    assert options.listing_ttl == 0
    assert options.staging_dir == tmp_path
    assert options.overwrite is Overwrite.REFUSE
    assert options.readahead_max == 32 * MIB
    assert options.read_part_size == 512 * 1024
    assert options.read_threads == 3
    assert options.cache_entries == 10
    assert options.prefetch_files == 0


def test_rw_and_explicit_booleans() -> None:
    assert not Options.parse("ro,rw").read_only
    assert Options.parse("read_only=yes").read_only
    assert not Options.parse("allow_other=false").allow_other


def test_parse_starts_from_base() -> None:
    base = Options(uid=7)
    assert Options.parse("gid=8", base) == Options(uid=7, gid=8, staging_dir=base.staging_dir)


def test_empty_string_gives_defaults() -> None:
    assert Options.parse(" , ").umask == Options().umask


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("colour=blue", "unknown option 'colour'"),
        ("uid=abc", "uid: 'abc'"),
        ("umask=999", "umask"),
        ("attr_ttl=soon", "attr_ttl"),
        ("attr_ttl=-1", "attr_ttl"),
        ("readahead_max=12X", "readahead_max"),
        ("read_threads=0", "read_threads"),
        ("prefetch_files=-1", "prefetch_files"),
        ("overwrite=always", "replace or refuse"),
        ("ro=maybe", "read_only"),
        ("readahead_min=32M,readahead_max=16M", "readahead_min"),
        ("read_part_size=1k", "read_part_size"),
        ("uid=-1", "uid"),
    ],
)
def test_bad_values_name_the_option(text: str, names: str) -> None:
    with pytest.raises(OptionsError, match=names):
        Options.parse(text)


def test_unknown_option_lists_known_ones() -> None:
    with pytest.raises(OptionsError, match=r"known options: .*staging_dir"):
        Options.parse("nope")


def test_default_staging_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_staging_dir() == tmp_path / "hcpfs" / "staging"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_staging_dir() == Path("~/.cache/hcpfs/staging").expanduser()
