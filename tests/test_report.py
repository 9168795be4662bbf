"""The lake report (``oilake report``): what it gathers from the marts and the manifest, the page it writes.

The page's numbers are checked against SQL on the same lake; tests/test_report_browser.py opens the
pages in Chromium.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli import main
from pipeline.evaluate import evaluate
from pipeline.evaluate.register import register_run
from pipeline.query.api import open_lake
from pipeline.report import charts, gather, write_report
from pipeline.report.evaluations import CURVE_CLASSES, CURVE_POINTS
from pipeline.report.run import render
from pipeline.resources import sample_dir
from pipeline.synth.predictions import write_all
from tests.conftest import BOX_HEADER, VAL_BOXES, WriteSource, build, query

MAX_BYTES = 5_000_000  # the page's budget at full scale


def packed(html: str, element: str) -> bytes:
    """The bytes of a packed (gzip + base64) script element of the page."""
    found = re.search(rf'<script[^>]*id="{element}"[^>]*>([^<]*)</script>', html)
    assert found, f"no {element} in the page"
    return gzip.decompress(base64.b64decode(found.group(1)))


def page_payload(html: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(packed(html, "oilake-data"))
    return data


@pytest.fixture(scope="session")
def evaluated_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample built once more, with a registered detection run of synthetic predictions."""
    root = tmp_path_factory.mktemp("evaluated")
    lake = root / "lake"
    build(sample_dir(), lake)
    predictions = write_all(sample_dir(), root / "predictions", ["validation"], per_image=100, seed=0)
    detection = next(p.path for p in predictions if "bbox" in p.path.name)
    evaluate(lake, str(detection), root / "eval")
    register_run(lake, "synthetic", root / "eval")
    return lake


@pytest.fixture(scope="session")
def sample_report(sample_lake: tuple[Path, dict[str, object]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(sample_lake[0], tmp_path_factory.mktemp("report") / "report.html").path


@pytest.fixture(scope="session")
def evaluated_report(evaluated_lake: Path) -> Path:
    return write_report(evaluated_lake, evaluated_lake.parent / "report.html").path


# -- the page --------------------------------------------------------------------------------------------


def test_page_is_self_contained(sample_report: Path) -> None:
    html = sample_report.read_text(encoding="utf-8")
    assert len(html.encode()) < MAX_BYTES
    assert re.findall(r"\b(?:src|href)\s*=\s*[\"'](?!#)", html) == [], "the page loads nothing from elsewhere"
    assert "<link" not in html and "@import" not in html
    assert html.count('id="plotly-js"') == 1
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    assert packed(html, "plotly-js").decode() == get_plotlyjs(), "Plotly's own JavaScript, inlined once"
    assert html.count("<script") == 3  # the data, Plotly, the page script
    for ident in (
        "build",
        "splits",
        "classes",
        "hierarchy",
        "images",
        "geometry",
        "attributes",
        "relationships",
        "narratives",
        "evaluation",
    ):
        assert f'<section id="{ident}" data-section="{ident}">' in html


def test_page_is_deterministic(
    sample_lake: tuple[Path, dict[str, object]], sample_report: Path, tmp_path: Path
) -> None:
    again = write_report(sample_lake[0], tmp_path / "again.html").path
    assert again.read_bytes() == sample_report.read_bytes(), "the same lake, the same bytes"
    with open_lake(sample_lake[0]) as lake:
        page, names = render(gather(lake))
    assert page == again.read_text(encoding="utf-8") and len(names) == 15


def test_every_figure_slot_has_its_figure(sample_report: Path) -> None:
    html = sample_report.read_text(encoding="utf-8")
    slots = re.findall(r'<div class="figure" data-figure="([^"]+)"', html)
    figures = page_payload(html)["figures"]
    assert sorted(slots) == sorted(figures)
    assert sorted(figures) == sorted(
        [
            "family_seconds",
            "split_totals",
            "long_tail",
            "sunburst",
            "per_image_boxes",
            "per_image_classes",
            "per_image_masks",
            "geometry_area",
            "geometry_aspect_ratio",
            "geometry_medians",
            "attribute_overall",
            "attribute_classes",
            "relationship_triplets",
            "relationship_predicates",
            "narrative_coverage",
        ]
    )
    assert all("template" not in f["layout"] for f in figures.values()), "the template is sent once"
    assert "No evaluation run is registered" in html


# -- the data, against the marts -----------------------------------------------------------------------------


def test_split_totals_are_the_marts(sample_lake: tuple[Path, dict[str, object]]) -> None:
    lake, _ = sample_lake
    with open_lake(lake) as opened:
        data = gather(opened)
    train = data["splits"][0]
    assert [s["split"] for s in data["splits"]] == ["train", "validation", "test"]
    assert (train["images"], train["boxes"], train["masks"], train["relationships"], train["narratives"]) == (
        160,
        974,
        30,
        60,
        29,
    )
    assert (train["positive_labels"], train["negative_labels"], train["machine_labels"]) == (363, 615, 640)
    expected = query(lake, "select split, count(*) as images, sum(boxes) as boxes from image_summary group by split")
    assert {s["split"]: (s["images"], s["boxes"]) for s in data["splits"]} == {
        r["split"]: (r["images"], r["boxes"]) for r in expected.to_dicts()
    }


def test_class_stats_are_carried_whole(sample_lake: tuple[Path, dict[str, object]]) -> None:
    lake, _ = sample_lake
    with open_lake(lake) as opened:
        classes = gather(opened)["classes"]
    rows = {(classes["mids"][r[0]], classes["splits"][r[1]]): tuple(r[2:]) for r in classes["stats"]}
    expected = query(lake, f"select label_mid, split, {', '.join(classes['metrics'])} from class_stats")
    assert rows == {(r[0], r[1]): tuple(r[2:]) for r in expected.iter_rows()}
    assert len(rows) == 714
    person = classes["mids"].index("/m/01g317")
    assert classes["names"][person] == "Person" and classes["flags"][person] == 0b111
    assert sum(r[3] for r in classes["stats"]) == 1537


def test_counts_with_descendants_are_boxes_expanded(sample_lake: tuple[Path, dict[str, object]]) -> None:
    lake, _ = sample_lake
    with open_lake(lake) as opened:
        data = gather(opened)
    mids, hierarchy = data["classes"]["mids"], data["hierarchy"]
    names = hierarchy["total_names"]
    totals = {mids[t[0]]: dict(zip(names, t[1:], strict=True)) for t in hierarchy["totals"]}
    expanded = dict(query(lake, "select label_mid, count(*) from boxes_expanded group by all").iter_rows())
    root = mids[hierarchy["root"]]
    assert root == "/m/0bl9f"
    assert {m: t["boxes_with_descendants"] for m, t in totals.items() if t["boxes_with_descendants"] and m != root} == (
        {m: n for m, n in expanded.items() if m in totals}
    )
    assert totals[root]["boxes_with_descendants"] == 1537 and totals[root]["descendants"] == 601
    animal = totals["/m/0jbk"]
    assert (animal["boxes"], animal["boxes_with_descendants"], animal["descendants"]) == (0, 48, 110)
    assert (
        animal["descendants"]
        == query(lake, "select count(*) from class_ancestors where ancestor_mid = '/m/0jbk'").item()
    )
    assert len(hierarchy["edges"]) == 647 and len(hierarchy["parts"]) == 38 and len(hierarchy["paths"]) == 670


def test_build_section_is_the_manifest(sample_lake: tuple[Path, dict[str, Any]]) -> None:
    lake, manifest = sample_lake
    with open_lake(lake) as opened:
        build_data = gather(opened)["build"]
    assert build_data["release"] == manifest["release"]
    assert {t["table"]: t["rows"] for t in build_data["tables"]} == {
        k: v["rows"] for k, v in manifest["tables"].items()
    }
    assert len(build_data["sources"]) == len(manifest["sources"]) == 36 + 48  # the files, and the mask archives
    assert len(build_data["skipped"]) == 8 and build_data["rejects"] == []
    boxes = next(f for f in build_data["families"] if f["family"] == "boxes")
    assert (boxes["files"], boxes["rows_read"]) == (3, 1537)


def test_rejects_are_grouped_by_reason_with_examples(write_source: WriteSource, tmp_path: Path) -> None:
    good = "0000000000000001,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0"
    bad = [
        "0000000000000002,xclick,/m/0k4j,1,abc,0.9,0.2,0.8,0,0,0,0,0",
        "0000000000000003,xclick,/m/0k4j,1,xyz,0.9,0.2,0.8,0,0,0,0,0",
        "0000000000000004,xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,7,0,0,0,0",
    ]
    source = write_source({VAL_BOXES: "\n".join([BOX_HEADER, good, *bad]) + "\n"})
    build(source, tmp_path / "lake", max_rejects=10)
    with open_lake(tmp_path / "lake") as opened:
        rejects = gather(opened)["build"]["rejects"]
    assert [(r["table"], r["kind"], r["rows"]) for r in rejects] == [
        ("boxes", "XMin: expected a finite number", 2),
        ("boxes", "IsOccluded: expected 1, 0 or -1", 1),
    ]
    assert [(e["file"], e["line"]) for e in rejects[0]["examples"]] == [(VAL_BOXES, 3), (VAL_BOXES, 4)]
    assert rejects[0]["examples"][0]["raw"].startswith("0000000000000002,xclick")
    html = write_report(tmp_path / "lake", tmp_path / "r.html").path.read_text(encoding="utf-8")
    assert "<span class='count' id='rejects-total'>3</span>" in html
    assert "XMin: expected a finite number, found &#x27;abc&#x27;" in html


# -- evaluation runs ------------------------------------------------------------------------------------------


def test_evaluation_section(evaluated_lake: Path, evaluated_report: Path) -> None:
    with open_lake(evaluated_lake) as opened:
        data = gather(opened)["evaluation"]
    assert data is not None
    (run,) = data["runs"]
    with open_lake(evaluated_lake) as opened:
        official = opened.sql("select map, tp, fp from evaluation_runs").row(0)
        per_class = opened.sql("select count(*) from evaluation_per_class where ap is not null").item()
    assert (run["run"], run["task"], run["metric"]) == ("synthetic", "detection", "challenge")
    assert run["map"] == pytest.approx(official[0], rel=1e-5) and (run["tp"], run["fp"]) == official[1:]
    assert len(data["per_class"]) == per_class
    aps = [r["ap"] for r in data["per_class"]]
    assert aps == sorted(aps), "worst first"
    assert len(data["curves"]) == CURVE_CLASSES
    assert all(2 <= len(c["recall"]) <= CURVE_POINTS + 2 for c in data["curves"])
    assert all(c["recall"] == sorted(c["recall"]) for c in data["curves"]), "thresholds descending"
    figures = page_payload(evaluated_report.read_text(encoding="utf-8"))["figures"]
    assert {"evaluation_map", "evaluation_ap", "evaluation_pr_synthetic"} <= set(figures)
    assert len(figures["evaluation_pr_synthetic"]["data"]) == CURVE_CLASSES


def test_no_run_no_evaluation(sample_lake: tuple[Path, dict[str, object]]) -> None:
    with open_lake(sample_lake[0]) as opened:
        assert gather(opened)["evaluation"] is None


# -- charts ------------------------------------------------------------------------------------------------


def test_thin_keeps_ends_and_bounds_points() -> None:
    assert charts.thin(5, 10) == [0, 1, 2, 3, 4]
    kept = charts.thin(20_000, 2000)
    assert kept[0] == 0 and kept[-1] == 19_999 and len(kept) <= 2001
    assert kept == sorted(set(kept))


def test_long_tail_is_sorted_per_metric(sample_lake: tuple[Path, dict[str, object]]) -> None:
    with open_lake(sample_lake[0]) as opened:
        classes = gather(opened)["classes"]
    figure = charts.long_tail(classes)
    boxes = figure["data"][0]
    assert boxes["name"] == "boxes (116 classes)" and boxes["y"][0] == 351 and boxes["text"][0] == "Person"
    assert boxes["y"] == sorted(boxes["y"], reverse=True)
    assert figure["layout"]["yaxis"]["type"] == "log"


# -- the command --------------------------------------------------------------------------------------------


def test_command_writes_the_page(
    sample_lake: tuple[Path, dict[str, object]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out" / "lake.html"
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--lake", str(sample_lake[0]), "--output", str(output)])
    assert exit_info.value.code == 0
    assert output.stat().st_size > 1_000_000  # Plotly alone is ~1.4 MB packed
    assert re.match(r"written: .*lake\.html \(\d\.\d MB, 15 charts, release \d{8}T", capsys.readouterr().err)
    assert [p.name for p in output.parent.iterdir()] == ["lake.html"], "no part file left"


def test_command_on_a_folder_that_is_no_lake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--lake", str(tmp_path / "nothing"), "--output", str(tmp_path / "r.html")])
    assert exit_info.value.code != 0
    err = capsys.readouterr().err
    assert "error:" in err and "hint:" in err
    assert not (tmp_path / "r.html").exists()


@pytest.mark.server
def test_report_of_a_lake_on_object_storage(s3_bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("validation-annotations-bbox.csv", "oidv6-class-descriptions.csv", "bbox_labels_600_hierarchy.json"):
        (source / name).write_bytes((sample_dir() / name).read_bytes())
    lake = f"s3://{s3_bucket}/lake"
    release = str(build(source, lake)["release"])
    result = write_report(lake, tmp_path / "s3.html")
    assert result.release == release
    html = result.path.read_text(encoding="utf-8")
    data = page_payload(html)
    assert sum(r[3] for r in data["classes"]["stats"]) == 285 and data["classes"]["splits"] == ["validation"]
    assert f"<code id='release-id'>{release}</code>" in html
