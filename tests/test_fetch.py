"""``oilake fetch`` against a loopback HTTP server serving a few files under a test-only official list."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.core.official import OfficialFile
from pipeline.families.selection import SelectionError
from pipeline.fetch.dest import STATE_FILE
from pipeline.fetch.run import FetchOptions, FetchSummary, fetch
from pipeline.resources import sample_dir
from tests.conftest import build, query
from tests.servers import FileServer, upload

pytestmark = pytest.mark.server  # every test downloads from a loopback HTTP or S3 server

NOWHERE = "https://storage.invalid/openimages/"  # the list's own prefix: never used, --base-url points at the server
BBOX_VAL, BBOX_TEST = "validation-annotations-bbox.csv", "test-annotations-bbox.csv"
BOXABLE, ATTRIBUTES = "class-descriptions-boxable.csv", "oidv6-attributes-description.csv"
SIZES = {BBOX_VAL: 300_000, BBOX_TEST: 120_000, BOXABLE: 5_000, ATTRIBUTES: 700}


@pytest.fixture
def mirror(tmp_path: Path, file_server) -> tuple[FileServer, list[OfficialFile]]:
    """A server with four files, and their list: md5 and size for the box files, size only, then neither."""
    root = tmp_path / "www"
    root.mkdir()
    rng = random.Random(3)
    files = []
    for name, size in SIZES.items():
        data = rng.randbytes(size)
        (root / name).write_bytes(data)
        family, split = {
            BBOX_VAL: ("boxes", "validation"), BBOX_TEST: ("boxes", "test"),
            BOXABLE: ("classes_boxable", None), ATTRIBUTES: ("attributes", None),
        }[name]  # fmt: skip
        md5 = hashlib.md5(data).hexdigest() if family == "boxes" else None
        files.append(OfficialFile(family, split, name, NOWHERE, size if name != ATTRIBUTES else None, md5, None))
    return file_server(root), files


def run(server: FileServer, files: list[OfficialFile], dest: Path | str, **options: object) -> FetchSummary:
    return fetch(
        FetchOptions(dest=str(dest), base_url=server.url, files=files, backoff=0.01, progress=False, **options)  # type: ignore[arg-type]
    )


def statuses(summary: FetchSummary) -> dict[str, str]:
    return {r.name: r.status for r in summary.results}


def test_fetch_downloads_and_verifies_every_file(mirror, tmp_path: Path) -> None:
    server, files = mirror
    dest = tmp_path / "dest"
    summary = run(server, files, dest)
    assert statuses(summary) == dict.fromkeys(SIZES, "fetched")
    assert summary.ok and summary.bytes == sum(SIZES.values())
    for name in SIZES:
        assert (dest / name).read_bytes() == (server.root / name).read_bytes()
    assert not list(dest.glob("*.part"))
    details = {r.name: r.detail for r in summary.results}
    assert details[BBOX_VAL] == "md5 verified"
    assert details[BOXABLE] == "size verified (no official md5)"
    state = json.loads((dest / STATE_FILE).read_text())["files"]
    assert state[BBOX_VAL]["md5"] == hashlib.md5((dest / BBOX_VAL).read_bytes()).hexdigest()
    assert "fetched 4, skipped 0 (already verified), failed 0 of 4 file(s)" in summary.describe()


def test_selection_follows_build_rules(mirror, tmp_path: Path) -> None:
    server, files = mirror
    summary = run(server, files, tmp_path / "dest", only=["boxes"], splits=["validation"])
    assert statuses(summary) == {BBOX_VAL: "fetched"}
    summary = run(server, files, tmp_path / "dest", only=["classes"])  # a table name selects the families feeding it
    assert statuses(summary) == {BOXABLE: "fetched"}
    with pytest.raises(SelectionError, match="unknown family or table 'boxs'"):
        run(server, files, tmp_path / "dest", only=["boxs"])


def test_a_rerun_skips_verified_files(mirror, tmp_path: Path) -> None:
    server, files = mirror
    dest = tmp_path / "dest"
    run(server, files, dest)
    gets = len(server.requests)
    summary = run(server, files, dest)
    assert statuses(summary) == dict.fromkeys(SIZES, "skipped")
    assert len(server.requests) == gets  # nothing asked of the server
    (dest / BBOX_TEST).unlink()
    assert statuses(run(server, files, dest))[BBOX_TEST] == "fetched"


def test_resume_after_a_cut_connection(mirror, tmp_path: Path) -> None:
    server, files = mirror
    server.fail(BBOX_VAL, "cut", after=100_000, times=1)
    dest = tmp_path / "dest"
    summary = run(server, files, dest, only=["boxes"], splits=["validation"])
    assert statuses(summary) == {BBOX_VAL: "fetched"}
    gets = server.gets(BBOX_VAL)
    assert len(gets) == 2 and gets[0].range is None
    assert gets[1].range is not None and gets[1].range.startswith("bytes=") and gets[1].range != "bytes=0-"
    assert (dest / BBOX_VAL).read_bytes() == (server.root / BBOX_VAL).read_bytes()
    assert summary.bytes == SIZES[BBOX_VAL]  # every byte fetched once


def test_resume_of_a_part_left_by_an_interrupted_run(mirror, tmp_path: Path) -> None:
    server, files = mirror
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / f"{BBOX_VAL}.part").write_bytes((server.root / BBOX_VAL).read_bytes()[:123_456])
    summary = run(server, files, dest, only=["boxes"], splits=["validation"])
    assert [g.range for g in server.gets(BBOX_VAL)] == ["bytes=123456-"]
    assert summary.bytes == SIZES[BBOX_VAL] - 123_456
    assert (dest / BBOX_VAL).read_bytes() == (server.root / BBOX_VAL).read_bytes()


def test_md5_mismatch_keeps_the_bad_file_aside(mirror, tmp_path: Path) -> None:
    server, files = mirror
    server.fail(BBOX_VAL, "wrong")  # right size, one byte changed
    dest = tmp_path / "dest"
    summary = run(server, files, dest)
    assert statuses(summary)[BBOX_VAL] == "failed" and not summary.ok
    detail = next(r.detail for r in summary.results if r.name == BBOX_VAL)
    assert "md5" in detail and "differs from the official" in detail and f"{BBOX_VAL}.bad-md5" in detail
    assert not (dest / BBOX_VAL).exists()
    assert (dest / f"{BBOX_VAL}.bad-md5").stat().st_size == SIZES[BBOX_VAL]
    assert BBOX_VAL not in json.loads((dest / STATE_FILE).read_text())["files"]
    server.faults.clear()
    assert statuses(run(server, files, dest))[BBOX_VAL] == "fetched"  # a re-run downloads it again


def test_transient_errors_are_retried(mirror, tmp_path: Path) -> None:
    server, files = mirror
    server.fail(BBOX_VAL, "503", times=2)
    server.fail(BBOX_TEST, "429", times=1)
    summary = run(server, files, tmp_path / "dest", only=["boxes"])
    assert statuses(summary) == {BBOX_VAL: "fetched", BBOX_TEST: "fetched"}
    assert len(server.gets(BBOX_VAL)) == 3 and len(server.gets(BBOX_TEST)) == 2


def test_not_found_and_wrong_size_fail_without_downloading(mirror, tmp_path: Path) -> None:
    server, files = mirror
    server.fail(BBOX_TEST, "404")
    files = [f if f.name != BOXABLE else OfficialFile(f.family, None, f.name, NOWHERE, 999, None, None) for f in files]
    dest = tmp_path / "dest"
    summary = run(server, files, dest)
    details = {r.name: r.detail for r in summary.results if r.status == "failed"}
    assert details.keys() == {BBOX_TEST, BOXABLE}
    assert details[BBOX_TEST] == f"file not found at {server.url}{BBOX_TEST} (HTTP 404)"
    assert "the official list says 999" in details[BOXABLE]
    assert len(server.gets(BBOX_TEST)) == 1  # a 404 is not retried
    assert not (dest / BBOX_TEST).exists() and not (dest / BOXABLE).exists()


def test_a_file_already_there_is_checked_not_trusted(mirror, tmp_path: Path) -> None:
    server, files = mirror
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / BBOX_VAL).write_bytes((server.root / BBOX_VAL).read_bytes())
    (dest / BBOX_TEST).write_bytes(b"not the file")
    summary = run(server, files, dest, only=["boxes"])
    assert statuses(summary) == {BBOX_VAL: "skipped", BBOX_TEST: "fetched"}
    assert server.gets(BBOX_VAL) == []
    assert (dest / f"{BBOX_TEST}.bad-md5").read_bytes() == b"not the file"
    assert (dest / BBOX_TEST).read_bytes() == (server.root / BBOX_TEST).read_bytes()


def test_cli_fetch_reports_and_exits_non_zero_on_a_bad_file(mirror, tmp_path: Path) -> None:
    server, files = mirror
    listing = tmp_path / "files.tsv"
    rows = ["family\tsplit\tfile\turl_prefix\tbytes\tmd5\trows_official"]
    rows += [f"{f.family}\t{f.split or ''}\t{f.name}\t{f.url_prefix}\t{f.bytes or ''}\t{f.md5 or ''}\t" for f in files]
    listing.write_text("\n".join(rows) + "\n")
    dest = tmp_path / "dest"
    args = ["fetch", "--dest", str(dest), "--base-url", server.url, "--file-list", str(listing), "--workers", "2"]
    server.fail(BBOX_VAL, "wrong")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "fetched 3, skipped 0 (already verified), failed 1 of 4 file(s)" in result.output
    assert f"error: 1 file(s) not fetched:\n  {BBOX_VAL}: md5" in result.output and "hint:" in result.output
    assert (dest / f"{BBOX_VAL}.bad-md5").exists()
    server.faults.clear()
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "fetched 1, skipped 3 (already verified), failed 0 of 4 file(s)" in result.output


def test_fetch_then_build(file_server, tmp_path: Path) -> None:
    names = [BBOX_VAL, "oidv6-class-descriptions.csv"]
    files = []
    for name in names:
        data = (sample_dir() / name).read_bytes()
        family = "boxes" if name == BBOX_VAL else "classes"
        split = "validation" if name == BBOX_VAL else None
        files.append(OfficialFile(family, split, name, NOWHERE, len(data), hashlib.md5(data).hexdigest(), None))
    server = file_server(sample_dir())
    dest = tmp_path / "openimages"
    assert run(server, files, dest).ok
    lake = tmp_path / "lake"
    build(dest, lake)
    expected = sum(1 for _ in (sample_dir() / BBOX_VAL).open()) - 1
    assert query(lake, "select count(*) as n from boxes").item() == expected


def test_fetch_only_masks_takes_the_rows_and_the_archives_then_builds_the_pixels(file_server, tmp_path: Path) -> None:
    genuine = Path(__file__).parent / "bad_inputs" / "masks_genuine"
    rows, archive = "validation-annotations-object-segmentation.csv", "validation-masks-0.zip"
    files = []
    for family, name in [("masks", rows), ("mask_pixels", archive), ("boxes", BBOX_VAL)]:
        data = (genuine / name).read_bytes() if family != "boxes" else b""
        files.append(OfficialFile(family, "validation", name, NOWHERE, len(data), hashlib.md5(data).hexdigest(), None))
    server = file_server(genuine)
    dest = tmp_path / "openimages"
    summary = fetch(FetchOptions(dest=str(dest), only=["masks"], base_url=server.url, files=files, backoff=0.01))
    assert sorted(r.name for r in summary.results) == [rows, archive]
    assert summary.ok and (dest / archive).read_bytes() == (genuine / archive).read_bytes()
    lake = tmp_path / "lake"
    build(dest, lake)
    assert query(lake, "select count(*) from masks_pixels_named").item() == 5


def test_fetch_into_s3(mirror, s3_bucket: str, tmp_path: Path) -> None:
    server, files = mirror
    dest = f"s3://{s3_bucket}/raw/v6"
    summary = run(server, files, dest, only=["boxes"])
    assert statuses(summary) == {BBOX_VAL: "fetched", BBOX_TEST: "fetched"}
    import s3fs

    fs = s3fs.S3FileSystem(anon=False, skip_instance_cache=True)
    assert fs.cat_file(f"{s3_bucket}/raw/v6/{BBOX_VAL}") == (server.root / BBOX_VAL).read_bytes()
    assert fs.exists(f"{s3_bucket}/raw/v6/{STATE_FILE}")
    assert statuses(run(server, files, dest, only=["boxes"])) == {BBOX_VAL: "skipped", BBOX_TEST: "skipped"}
    upload(tmp_path, f"s3://{s3_bucket}/unused")  # the helper works on any folder
