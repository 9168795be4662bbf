"""Builds from http:// and s3:// sources (loopback servers only): same lake as a local build, clear errors."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import pipeline.build.plan
from pipeline.cli import cli
from pipeline.core.errors import (
    AccessDeniedError,
    InputFormatError,
    OilakeError,
    SourceError,
    SourceNotFoundError,
    SourceUnreachableError,
)
from pipeline.core.official import official_files
from pipeline.core.schema import all_schemas
from pipeline.lake.manifest import MANIFEST
from pipeline.query.api import open_lake
from pipeline.read.files import SourceFile
from pipeline.read.opened import HashingReader
from pipeline.read.redact import redact, redact_text
from pipeline.read.sources import BLOCK_SIZE, Source
from pipeline.read.storage_options import resolve_storage_options
from pipeline.resources import sample_dir
from tests.conftest import build, sources_by_file
from tests.servers import DUMMY_KEY_ID, DUMMY_SECRET, free_port, upload

BBOX_VALIDATION = "validation-annotations-bbox.csv"
SMALL = {"only": ["boxes"], "splits": ["validation"]}  # one small file: quick builds for the error cases


def official(name: str):
    return next(f for f in official_files() if f.name == name)


def table_rows(lake: Path) -> dict[str, list[tuple]]:
    """Every lake table's rows, sorted, read through the catalog."""
    with open_lake(lake) as opened:
        return {t: opened.con.execute(f'select * from "{t}" order by all').fetchall() for t in all_schemas()}


def assert_same_lake(remote: Path, local: Path) -> None:
    got, expected = table_rows(remote), table_rows(local)
    assert sum(len(rows) for rows in expected.values()) > 1000
    for table, rows in expected.items():
        assert got[table] == rows, table


def manifest_text(lake: Path) -> str:
    return (lake / MANIFEST).read_text("utf-8")


def assert_not_published(lake: Path) -> None:
    assert not (lake / MANIFEST).exists()


# --- helpers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("/data/openimages", "/data/openimages"),
        ("s3://bucket/prefix", "s3://bucket/prefix"),
        ("https://user:pa55@host:8443/oi/", "https://***@host:8443/oi/"),
        ("https://token@host/oi/", "https://***@host/oi/"),
        (
            "https://host/f.csv?X-Amz-Credential=AKIA%2F1&X-Amz-Date=2026&X-Amz-Signature=abc",
            "https://host/f.csv?X-Amz-Credential=***&X-Amz-Date=2026&X-Amz-Signature=***",
        ),
        (
            "https://host/f?sig=1&se=2&api_key=3&access_token=4",
            "https://host/f?sig=***&se=2&api_key=***&access_token=***",
        ),
        ("simplecache::https://u:p@host/x", "simplecache::https://***@host/x"),
    ],
)
def test_redact(uri: str, shown: str) -> None:
    assert redact(uri) == shown


def test_redact_text_redacts_every_url() -> None:
    text = "403 for url 'https://me:secret@host/a?token=t0k' then http://x/y"
    assert redact_text(text) == "403 for url 'https://***@host/a?token=***' then http://x/y"


def test_storage_option_values_are_json_when_they_parse() -> None:
    given = {"anon": "false", "block_size": "1024", "client_kwargs": '{"region_name": "eu"}', "key": "AK"}
    options = resolve_storage_options("https://host/prefix", given)
    assert options == {"anon": False, "block_size": 1024, "client_kwargs": {"region_name": "eu"}, "key": "AK"}


def test_a_storage_option_without_a_value_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["build", "--storage-option", "anon"])
    assert result.exit_code == 2
    assert "'anon' is not KEY=VALUE" in result.output


@pytest.mark.server
def test_s3_is_anonymous_unless_credentials_are_configured(s3_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_storage_options("s3://b/p", None)["anon"] is False  # dummy credentials in the environment
    assert resolve_storage_options("s3://b/p", {"anon": "true"})["anon"] is True  # an explicit choice wins
    assert "anon" not in resolve_storage_options("s3://b/p", {"key": "k", "secret": "s"})
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert resolve_storage_options("s3://b/p", None)["anon"] is True
    monkeypatch.setitem(pipeline.read.storage_options.fsspec.config.conf, "s3", {"anon": False})  # fsspec's own config
    assert "anon" not in resolve_storage_options("s3://b/p", None)
    assert resolve_storage_options("https://h/p", None) == {}


def test_a_short_transfer_is_an_error_naming_the_file() -> None:
    file = SourceFile(official=official(BBOX_VALIDATION), path="x", name=BBOX_VALIDATION, size=100)
    reader = HashingReader(io.BytesIO(b"a" * 60), file, "http://host/x")
    with pytest.raises(InputFormatError, match=rf"{BBOX_VALIDATION}: truncated transfer .* after 60 of the 100 bytes"):
        reader.drain()


def test_a_file_of_the_official_size_must_have_the_official_md5() -> None:
    data = b"some bytes\n"
    listed = dataclasses.replace(official(BBOX_VALIDATION), bytes=len(data), md5=hashlib.md5(data).hexdigest())
    good = SourceFile(official=listed, path="x", name=BBOX_VALIDATION, size=len(data))
    HashingReader(io.BytesIO(data), good, "u").drain()
    with pytest.raises(InputFormatError, match=r"md5 .* differs from the official"):
        HashingReader(io.BytesIO(b"some bytez\n"), good, "u").drain()
    compressed = dataclasses.replace(good, name=BBOX_VALIDATION + ".gz")  # the official md5 is of the plain file
    HashingReader(io.BytesIO(b"some bytez\n"), compressed, "u").drain()


# --- HTTP ----------------------------------------------------------------------------------------


@pytest.mark.server
def test_build_from_http_equals_the_local_build(file_server, sample_lake, tmp_path: Path) -> None:
    server = file_server(sample_dir())
    lake = tmp_path / "lake"
    manifest = build(server.url, lake)  # type: ignore[arg-type]
    assert_same_lake(lake, sample_lake[0])
    assert {r.method for r in server.requests} == {"HEAD", "GET"}
    # streamed: one plain GET per read, no block requests; only the mask archives are read by ranges
    assert not any(r.range for r in server.requests if not r.name.endswith(".zip"))
    assert all(r.range for r in server.requests if r.name.endswith(".zip") and r.method == "GET")
    etags = {s["file"]: s.get("etag") for s in manifest["sources"]}  # type: ignore[union-attr]
    data = (sample_dir() / BBOX_VALIDATION).read_bytes()
    assert etags[BBOX_VALIDATION] == hashlib.md5(data).hexdigest()


@pytest.mark.server
def test_http_files_are_streamed_not_downloaded_whole(file_server, tmp_path: Path) -> None:
    (tmp_path / BBOX_VALIDATION).write_bytes(b"x" * (3 << 20))
    server = file_server(tmp_path)
    source = Source(server.url)
    found = source.find(official(BBOX_VALIDATION))
    assert found is not None and found.size == 3 << 20 and found.etag
    with source.open(found) as opened:
        assert type(opened.hashed._raw).__name__ == "HTTPStreamFile"
        assert len(opened.stream.read(1000)) == 1000
        assert opened.hashed.bytes_read < 3 << 20


@pytest.mark.server
def test_http_credentials_never_reach_the_manifest_or_the_log(file_server, tmp_path: Path, capsys) -> None:
    server = file_server(sample_dir())
    uri = server.url.replace("http://", "http://reader:hunter2secret@")
    source = Source(uri)
    assert source.display_uri == server.url.replace("http://", "http://***@")
    lake = tmp_path / "lake"
    build(uri, lake, **SMALL)  # type: ignore[arg-type]
    text = manifest_text(lake) + capsys.readouterr().err
    assert "hunter2secret" not in text and "reader:" not in text


@pytest.mark.server
def test_http_404_when_reading_names_the_url_and_family(file_server, tmp_path: Path) -> None:
    server = file_server(sample_dir())
    server.fail(BBOX_VALIDATION, "get-404")  # listed (HEAD answers), gone when read
    lake = tmp_path / "lake"
    with pytest.raises(SourceNotFoundError) as caught:
        build(server.url, lake, **SMALL)  # type: ignore[arg-type]
    message = str(caught.value)
    assert f"file not found at {server.url}{BBOX_VALIDATION}" in message
    assert "family boxes, split validation" in message
    assert_not_published(lake)


@pytest.mark.server
def test_http_404_when_listing_is_an_absent_file(file_server) -> None:
    server = file_server(sample_dir())
    server.fail(BBOX_VALIDATION, "404")
    assert Source(server.url).find(official(BBOX_VALIDATION)) is None


@pytest.mark.server
def test_http_403_is_access_denied(file_server, tmp_path: Path) -> None:
    server = file_server(sample_dir())
    server.fail(BBOX_VALIDATION, "403")
    lake = tmp_path / "lake"
    with pytest.raises(AccessDeniedError, match=rf"access denied to {server.url}{BBOX_VALIDATION}: .*family boxes"):
        build(server.url, lake, **SMALL)  # type: ignore[arg-type]
    assert_not_published(lake)


@pytest.mark.server
def test_cli_403_gives_a_credentials_hint(file_server, tmp_path: Path) -> None:
    server = file_server(sample_dir())
    server.fail(BBOX_VALIDATION, "403")
    args = [
        "build",
        "--source",
        server.url,
        "--lake",
        str(tmp_path / "lake"),
        "--only",
        "boxes",
        "--splits",
        "validation",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "error: access denied to" in result.output
    assert "hint:" in result.output and "credentials" in result.output
    assert "Traceback" not in result.output


def test_connection_refused_is_a_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/oi/"
    lake = tmp_path / "lake"
    with pytest.raises(SourceUnreachableError, match=r"cannot connect to 127\.0\.0\.1:\d+ to look up .*family boxes"):
        build(url, lake, **SMALL)  # type: ignore[arg-type]
    assert_not_published(lake)


@pytest.mark.server
def test_a_cut_connection_is_a_truncated_transfer(file_server, tmp_path: Path) -> None:
    server = file_server(sample_dir())
    server.fail(BBOX_VALIDATION, "cut", after=2000)
    lake = tmp_path / "lake"
    with pytest.raises(
        InputFormatError, match=rf"{BBOX_VALIDATION}: truncated transfer from .* cut after [\d,]+ of 25,222 bytes"
    ):
        build(server.url, lake, **SMALL)  # type: ignore[arg-type]
    assert_not_published(lake)


@pytest.mark.server
def test_wrong_bytes_of_the_official_size_fail_the_md5_check(file_server, tmp_path, monkeypatch) -> None:
    data = (sample_dir() / BBOX_VALIDATION).read_bytes()
    listed = tuple(
        dataclasses.replace(f, bytes=len(data), md5=hashlib.md5(data).hexdigest()) if f.name == BBOX_VALIDATION else f
        for f in official_files()
    )  # as if the sample file were the official one
    monkeypatch.setattr(pipeline.build.plan, "official_files", lambda: listed)
    server = file_server(sample_dir())
    build(server.url, tmp_path / "good", **SMALL)  # type: ignore[arg-type]
    server.fail(BBOX_VALIDATION, "wrong")
    lake = tmp_path / "lake"
    with pytest.raises(InputFormatError, match=rf"{BBOX_VALIDATION}: md5 [0-9a-f]{{32}} differs from the official"):
        build(server.url, lake, **SMALL)  # type: ignore[arg-type]
    assert_not_published(lake)


# --- S3 ------------------------------------------------------------------------------------------


@pytest.mark.server
def test_build_from_s3_equals_the_local_build(s3_bucket: str, sample_lake, tmp_path: Path) -> None:
    url = f"s3://{s3_bucket}/openimages/v6"
    upload(sample_dir(), url)
    lake = tmp_path / "lake"
    manifest = build(url, lake)  # type: ignore[arg-type]
    assert_same_lake(lake, sample_lake[0])
    etags = {s["file"]: s.get("etag") for s in manifest["sources"]}  # type: ignore[union-attr]
    assert etags[BBOX_VALIDATION] == hashlib.md5((sample_dir() / BBOX_VALIDATION).read_bytes()).hexdigest()
    text = manifest_text(lake)
    assert DUMMY_SECRET not in text and DUMMY_KEY_ID not in text


@pytest.mark.server
def test_s3_source_reads_in_blocks(s3_bucket: str) -> None:
    url = f"s3://{s3_bucket}/oi"
    upload(sample_dir(), url)
    source = Source(url)
    found = source.find(official(BBOX_VALIDATION))
    assert found is not None and found.display_url == f"{url}/{BBOX_VALIDATION}"
    with source.open(found) as opened:
        assert opened.hashed._raw.blocksize == BLOCK_SIZE


@pytest.mark.server
def test_public_s3_bucket_is_read_anonymously(s3_bucket: str, monkeypatch, tmp_path: Path) -> None:
    url = f"s3://{s3_bucket}/public"
    upload(sample_dir(), url, public=True)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert Source(url).fs.anon is True
    build(url, tmp_path / "lake", **SMALL)  # type: ignore[arg-type]


@pytest.mark.server
def test_private_s3_without_credentials_is_access_denied(s3_bucket: str, monkeypatch, tmp_path: Path) -> None:
    url = f"s3://{s3_bucket}/private"
    upload(sample_dir(), url)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    lake = tmp_path / "lake"
    with pytest.raises(AccessDeniedError, match=rf"access denied to {url}/{BBOX_VALIDATION}: .*family boxes"):
        build(url, lake, **SMALL)  # type: ignore[arg-type]
    assert_not_published(lake)


@pytest.mark.server
def test_s3_credentials_and_endpoint_as_storage_options_stay_secret(s3_bucket, s3_env, monkeypatch, tmp_path) -> None:
    url = f"s3://{s3_bucket}/explicit"
    upload(sample_dir(), url)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name)
    options = {"key": DUMMY_KEY_ID, "secret": DUMMY_SECRET, "endpoint_url": s3_env}
    lake = tmp_path / "lake"
    build(url, lake, storage_options=options, **SMALL)  # type: ignore[arg-type]
    text = manifest_text(lake)
    assert DUMMY_SECRET not in text and DUMMY_KEY_ID not in text


@pytest.mark.server
def test_s3_endpoint_refused_is_a_clear_error(s3_env, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    options = {"config_kwargs": '{"retries": {"max_attempts": 1}, "connect_timeout": 2}'}
    with pytest.raises(SourceUnreachableError, match=r"cannot connect to .* to look up .*family boxes"):
        build("s3://nowhere/oi", tmp_path / "lake", storage_options=options, **SMALL)  # type: ignore[arg-type]


def test_an_unknown_protocol_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="cannot open source"):
        Source("nosuchprotocol://x/y")


# --- what reaches a message; odd files under official names ----------------------------------------


def _presigned_style(url: str, prefix: str) -> str:
    """``url`` with credentials, a prefix and a query string holding secrets (as a presigned or SAS prefix)."""
    return url.replace("http://", "http://reader:hunter2secret@") + f"{prefix}/?sig=SIGSECRET&X-Amz-Signature=AMZSECRET"


@pytest.mark.server
def test_no_file_found_names_the_source_without_its_secrets(file_server, tmp_path: Path) -> None:
    (tmp_path / "served" / "oi").mkdir(parents=True)
    server = file_server(tmp_path / "served")
    uri = _presigned_style(server.url, "oi")
    args = ["build", "--source", uri, "--lake", str(tmp_path / "lake"), "--only", "boxes", "--splits", "validation"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    shown = server.url.replace("http://", "http://***@") + "oi/?sig=***&X-Amz-Signature=***"
    assert f"error: no official Open Images file found in {shown!r} for this selection" in result.output
    assert "hint:" in result.output and "Traceback" not in result.output
    for secret in ("hunter2secret", "reader:", "SIGSECRET", "AMZSECRET"):
        assert secret not in result.output
    with pytest.raises(OilakeError) as caught:  # the library's message is redacted too, not only the CLI's
        build(uri, tmp_path / "lake", **SMALL)  # type: ignore[arg-type]
    assert "SIGSECRET" not in str(caught.value) and "hunter2secret" not in str(caught.value)


@pytest.mark.server
def test_a_prefix_with_a_query_string_keeps_it_after_each_file_name(file_server, tmp_path: Path, capsys) -> None:
    (tmp_path / "served" / "oi").mkdir(parents=True)
    (tmp_path / "served" / "oi" / BBOX_VALIDATION).write_bytes((sample_dir() / BBOX_VALIDATION).read_bytes())
    server = file_server(tmp_path / "served")
    uri = _presigned_style(server.url, "oi")
    source = Source(uri)
    found = source.find(official(BBOX_VALIDATION))
    assert found is not None
    assert found.path == f"{server.url}oi/{BBOX_VALIDATION}?sig=SIGSECRET&X-Amz-Signature=AMZSECRET"
    assert found.display_path == f"{server.url}oi/{BBOX_VALIDATION}?sig=***&X-Amz-Signature=***"
    lake = tmp_path / "lake"
    manifest = build(uri, lake, **SMALL)  # type: ignore[arg-type]
    assert sources_by_file(manifest)[BBOX_VALIDATION]["rows_written"] > 0
    assert {r.name for r in server.requests} == {f"oi/{BBOX_VALIDATION}"}  # the name in the path, never the query
    text = manifest_text(lake) + capsys.readouterr().err
    for secret in ("hunter2secret", "reader:", "SIGSECRET", "AMZSECRET"):
        assert secret not in text


@pytest.mark.parametrize("kind", ["fifo", "link to a fifo", "folder"])
def test_only_regular_files_are_sources(kind: str, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    target = source / BBOX_VALIDATION
    if kind == "folder":
        target.mkdir()
        what = "a folder"
    elif kind == "fifo":
        os.mkfifo(target)
        what = "a FIFO (named pipe)"
    else:
        os.mkfifo(tmp_path / "pipe")
        target.symlink_to(tmp_path / "pipe")
        what = f"a link to a FIFO (named pipe) ({tmp_path / 'pipe'})"
    # before the fix: a FIFO hung the build, a folder was "not in the source"
    with pytest.raises(SourceError) as caught:
        build(source, tmp_path / "lake", **SMALL)
    assert str(caught.value) == (
        f"{target} is {what}, not a regular file: a source file must be a file (or a link to one)"
    )
    assert "remove what is there" in caught.value.hint
    assert not (tmp_path / "lake" / MANIFEST).exists()
