"""The report in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright, offline.

Each page (the sample lake, the sample with a registered evaluation run, a synthetic lake) is opened
once with the network off; the tests read its DOM and compare the numbers with SQL on the same lake,
type into the searches, sort, and click the hierarchy. Screenshots go to ``.pytest_cache/d/report-
screenshots/``; with ``OILAKE_REPORT_SCREENSHOT=docs/report.png`` the README's picture is refreshed.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pipeline.query.api import open_lake
from pipeline.report import write_report
from pipeline.synth import synthesize
from tests.conftest import BOX_HEADER, LABEL_HEADER, VAL_BOXES, VAL_LABELS, build, query
from tests.test_report import MAX_BYTES, evaluated_lake, evaluated_report, sample_report

__all__ = ["evaluated_lake", "evaluated_report", "sample_report"]  # session fixtures shared with test_report

pytestmark = pytest.mark.server  # a browser process: `make test-quick` leaves it out, `make test` and CI run it

CHROMIUM = os.environ.get("OILAKE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
METRICS = ("images", "boxes", "masks", "relationships", "positive_labels", "negative_labels", "machine_labels")


def _missing(what: str) -> None:
    message = f"{what}: .ci/run installs it (`apt-get install chromium`, `pip install -e .[dev]`)"
    if os.environ.get("CI"):
        pytest.fail(message)  # CI skips nothing
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session (the system's: Playwright downloads no browser here)."""
    if CHROMIUM is None:
        _missing("no chromium on PATH")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def artifacts(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots are kept: a folder of pytest's cache, which outlives the run (without the
    cache, ``-p no:cacheprovider``, the session's base temporary folder, which pytest keeps for three runs)."""
    cache = getattr(pytestconfig, "cache", None)  # no attribute at all under -p no:cacheprovider
    if cache is None:
        return tmp_path_factory.mktemp("report-screenshots")
    return Path(cache.mkdir("report-screenshots"))


@dataclass
class Opened:
    """A report open in the browser, with what went wrong while it loaded."""

    page: Any
    path: Path
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def text(self, selector: str) -> str:
        return str(self.page.locator(selector).first.inner_text()).strip()

    def cells(self, selector: str) -> list[dict[str, str]]:
        """The rows under ``selector`` as {data-key: text}."""
        rows: list[dict[str, str]] = self.page.eval_on_selector_all(
            selector,
            "rows => rows.map(r => Object.fromEntries([...r.querySelectorAll('td[data-key]')]"
            ".map(td => [td.dataset.key, td.innerText.trim()])))",
        )
        return rows


def number(text: str) -> int:
    return int(text.replace(",", ""))


def open_report(browser: Any, path: Path, artifacts: Path, name: str) -> Iterator[Opened]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, offline=True)
    opened = Opened(context.new_page(), path)

    def block(route: Any) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            opened.requests.append(route.request.url)
            route.abort()

    context.route("**/*", block)
    opened.page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    opened.page.on("pageerror", lambda e: opened.errors.append(str(e)))
    opened.page.on("request", lambda r: None if r.url.startswith("file:") else opened.requests.append(r.url))
    opened.page.goto(path.as_uri())
    opened.page.wait_for_function("document.body.dataset.ready !== 'false'", timeout=60_000)
    opened.page.screenshot(path=str(artifacts / f"{name}-full.png"), full_page=True)
    yield opened
    context.close()


@pytest.fixture(scope="module")
def sample_page(browser: Any, sample_report: Path, artifacts: Path) -> Iterator[Opened]:
    yield from open_report(browser, sample_report, artifacts, "sample")


@pytest.fixture(scope="module")
def evaluated_page(browser: Any, evaluated_report: Path, artifacts: Path) -> Iterator[Opened]:
    yield from open_report(browser, evaluated_report, artifacts, "evaluated")


@pytest.fixture(scope="session")
def synth_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic lake at 1/1000 of V6: ~19,000 classes, as many as the full release."""
    root = tmp_path_factory.mktemp("synth-report")
    synthesize(root / "source", 0.001, seed=3)
    build(root / "source", root / "lake")
    return root / "lake"


@pytest.fixture(scope="module")
def synth_page(browser: Any, synth_lake: Path, artifacts: Path) -> Iterator[Opened]:
    report = write_report(synth_lake, synth_lake.parent / "report.html")
    yield from open_report(browser, report.path, artifacts, "synth")


@pytest.fixture(scope="module")
def bare_page(browser: Any, tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[Opened]:
    """A lake of three boxes and one label: no hierarchy, no metadata, most sections empty."""
    root = tmp_path_factory.mktemp("bare-report")
    source = root / "source"
    source.mkdir()
    rows = "".join(f"000000000000000{n},xclick,/m/0k4j,1,0.1,0.9,0.2,0.8,0,0,0,0,0\n" for n in range(1, 4))
    (source / VAL_BOXES).write_text(f"{BOX_HEADER}\n{rows}")
    (source / VAL_LABELS).write_text(f"{LABEL_HEADER}\n0000000000000001,verification,/m/0k4j,1\n")
    build(source, root / "lake")
    report = write_report(root / "lake", root / "report.html")
    yield from open_report(browser, report.path, artifacts, "bare")


PAGES = ("sample_page", "evaluated_page", "synth_page", "bare_page")


@pytest.mark.parametrize("name", PAGES)
def test_every_section_renders_offline_without_errors(name: str, request: pytest.FixtureRequest) -> None:
    opened: Opened = request.getfixturevalue(name)
    page = opened.page
    assert page.evaluate("document.body.dataset.ready") == "true"
    assert opened.errors == [] and opened.requests == []
    sections = page.eval_on_selector_all("section[data-section]", "s => s.map(e => [e.id, e.dataset.rendered])")
    assert [s for s, rendered in sections if rendered != "true"] == []
    assert [s for s, _ in sections] == [
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
    ]
    slots = page.eval_on_selector_all(
        "div.figure[data-figure]",
        "d => d.map(e => [e.dataset.figure, e.dataset.drawn, !!e.querySelector('.main-svg')])",
    )
    assert len(slots) >= 10
    assert [s for s in slots if s[1:] != ["true", True]] == []
    assert page.locator("#report-error").count() == 0


def test_split_numbers_are_the_marts(sample_page: Opened, sample_lake: tuple[Path, Any]) -> None:
    rows = sample_page.cells("#split-totals tbody tr")
    expected = query(
        sample_lake[0],
        "select split, count(*) as images, sum(boxes) as boxes, sum(masks) as masks, sum(narratives) as narratives "
        "from image_summary group by split",
    )
    shown = {
        r["split"]: (number(r["images"]), number(r["boxes"]), number(r["masks"]), number(r["narratives"])) for r in rows
    }
    assert shown == {r[0]: tuple(r[1:]) for r in expected.iter_rows()}
    assert shown["train"] == (160, 974, 30, 29)


def _class_sums(lake: Path, where: str = "true") -> dict[str, int]:
    sums = ", ".join(f"sum({m}) as {m}" for m in METRICS)
    return query(lake, f"select {sums} from class_stats where {where}").to_dicts()[0]


def test_class_explorer_numbers_are_the_marts(sample_page: Opened, sample_lake: tuple[Path, Any]) -> None:
    page, lake = sample_page.page, sample_lake[0]
    page.select_option("#class-split", "all")
    page.fill("#class-search", "")
    total = sample_page.cells("#class-table tfoot tr")[0]
    assert {m: number(total[m]) for m in METRICS} == _class_sums(lake)
    assert page.locator("#class-count").get_attribute("data-matches") == str(
        query(lake, "select count(distinct label_mid) from class_stats").item()
    )
    page.fill("#class-search", "person")
    person = sample_page.cells("#class-table tbody tr[data-mid='/m/01g317']")[0]
    assert (person["name"], person["lists"]) == ("Person", "boxabletrainablesegmentable")
    assert {m: number(person[m]) for m in METRICS} == _class_sums(lake, "label_mid = '/m/01g317'")
    assert number(person["boxes"]) == 351
    page.select_option("#class-split", label="validation")
    person = sample_page.cells("#class-table tbody tr[data-mid='/m/01g317']")[0]
    assert {m: number(person[m]) for m in METRICS} == _class_sums(
        lake, "label_mid = '/m/01g317' and split = 'validation'"
    )
    page.fill("#class-search", "/m/0k4j")  # search by MID
    assert [r["name"] for r in sample_page.cells("#class-table tbody tr")] == ["Car"]
    page.fill("#class-search", "no class is called this")
    assert page.locator("#class-table tbody tr").count() == 0
    assert sample_page.text("#class-count").startswith("0 of ")


def test_class_explorer_sorts(sample_page: Opened, sample_lake: tuple[Path, Any]) -> None:
    page, lake = sample_page.page, sample_lake[0]
    page.select_option("#class-split", "all")
    page.fill("#class-search", "")
    page.click("#class-table th[data-sort='masks']")
    top = query(lake, "select label_mid, sum(masks) from class_stats group by all order by 2 desc, 1 limit 1").row(0)
    first = page.locator("#class-table tbody tr").first
    assert first.get_attribute("data-mid") == top[0] == "/m/01g317"
    assert number(sample_page.cells("#class-table tbody tr")[0]["masks"]) == top[1] == 18
    page.click("#class-table th[data-sort='name']")
    names = [r["name"] for r in sample_page.cells("#class-table tbody tr")]
    assert names == sorted(names, key=str.lower) and len(names) == 25
    page.click("#class-more")
    assert page.locator("#class-table tbody tr").count() == 125
    page.click("#class-table th[data-sort='boxes']")  # back to the default order for the other tests


def _details(opened: Opened) -> dict[str, Any]:
    page = opened.page
    panel = page.locator("#class-details")
    return {
        "mid": panel.get_attribute("data-mid"),
        "name": opened.text("#class-details h3"),
        "counts": {
            r.get_attribute("data-count"): (
                number(r.locator("[data-key=own]").inner_text()),
                number(r.locator("[data-key=with_descendants]").inner_text()),
            )
            for r in panel.locator("tr[data-count]").all()
        },
        "descendant_count": opened.text("#class-details [data-key=descendants]"),
        "paths": panel.locator("ul.paths li").all_inner_texts(),
        **{
            name: panel.locator(f"ul[data-list={name}] a").all_inner_texts()
            for name in ("ancestors", "children", "descendants", "parts", "wholes")
        },
    }


def test_hierarchy_tree_click_shows_the_class(sample_page: Opened, sample_lake: tuple[Path, Any]) -> None:
    page, lake = sample_page.page, sample_lake[0]
    tree = page.locator("#hierarchy-tree")
    tree.locator("xpath=.//li[a[normalize-space()='Animal']]/button").first.click()
    tree.locator("xpath=.//li[a[normalize-space()='Mammal']]/button").first.click()
    tree.locator("xpath=.//a[normalize-space()='Carnivore']").first.click()
    details = _details(sample_page)
    assert (details["mid"], details["name"]) == ("/m/01lrl", "Carnivore")
    expanded = query(lake, "select count(*) from boxes_expanded where label_mid = '/m/01lrl'").item()
    own = query(lake, "select coalesce(sum(boxes), 0) from class_stats where label_mid = '/m/01lrl'").item()
    assert details["counts"]["boxes"] == (own, expanded) == (0, 26)
    below = query(lake, "select count(*) from class_ancestors where ancestor_mid = '/m/01lrl'").item()
    assert details["descendant_count"] == f"{below} descendants"
    assert len(details["descendants"]) == below and "Brown bear" in details["descendants"]
    assert details["paths"] == ["Entity > Animal > Mammal > Carnivore"]
    assert details["ancestors"] == ["Mammal", "Animal"], "nearest first"
    assert {"Bear", "Cat", "Dog"} <= set(details["children"])
    panel = page.locator("#class-details")
    panel.locator("xpath=.//ul[@data-list='ancestors']//a[normalize-space()='Mammal']").click()  # its own links
    assert _details(sample_page)["mid"] == "/m/04rky"


def test_hierarchy_parts(sample_page: Opened, sample_lake: tuple[Path, Any]) -> None:
    page = sample_page.page
    page.fill("#hierarchy-search", "human body")
    page.locator("#hierarchy-found").get_by_text("Human body", exact=True).click()
    details = _details(sample_page)
    parts = query(sample_lake[0], "select part_name from class_parts_named where whole_name = 'Human body'")
    assert sorted(details["parts"]) == sorted(parts.to_series()) and "Human eye" in details["parts"]
    page.locator("#class-details").get_by_text("Human eye", exact=True).click()
    assert _details(sample_page)["wholes"] == ["Human body"]


def test_hierarchy_sunburst_click(sample_page: Opened) -> None:
    page = sample_page.page
    label = page.locator("[data-figure=sunburst] text.slicetext", has_text=re.compile(r"^Vehicle$")).first
    box = label.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("document.getElementById('class-details').dataset.mid === '/m/07yv9'")
    details = _details(sample_page)
    assert details["name"] == "Vehicle" and details["counts"]["boxes"][1] > 0


def test_hierarchy_search_and_class_table_link(sample_page: Opened) -> None:
    page = sample_page.page
    page.fill("#hierarchy-search", "cat")
    found = page.locator("#hierarchy-found a.class-link").all_inner_texts()
    assert "Cat" in found and all("cat" in f.lower() for f in found)
    page.locator("#hierarchy-found").get_by_text("Cat", exact=True).click()
    assert _details(sample_page)["mid"] == "/m/01yrx"
    page.fill("#hierarchy-search", "brown bear")
    page.locator("#hierarchy-found").get_by_text("Brown bear", exact=True).click()
    marked = page.locator("#hierarchy-tree li.hit > a")
    assert marked.all_inner_texts() == ["Brown bear"] and marked.is_visible(), "the tree opens at the class"
    page.fill("#class-search", "Person")
    page.locator("#class-table tr[data-mid='/m/01g317'] a.class-link").click()
    details = _details(sample_page)
    assert details["mid"] == "/m/01g317" and details["paths"] == ["Entity > Person"]
    page.fill("#class-search", "")


def test_evaluation_numbers_are_the_runs(evaluated_page: Opened, evaluated_lake: Path, artifacts: Path) -> None:
    page = evaluated_page.page
    with open_lake(evaluated_lake) as lake:
        expected = lake.sql("select run, map, tp, fp from evaluation_runs").row(0)
    run = evaluated_page.cells("#evaluation-runs tbody tr")[0]
    assert (run["run"], run["map"], number(run["tp"]), number(run["fp"])) == (
        expected[0],
        f"{expected[1]:.4f}",
        expected[2],
        expected[3],
    )
    traces = page.evaluate("document.querySelector('[data-figure=evaluation_pr_synthetic]').data.length")
    assert traces == 6
    page.locator("#evaluation").screenshot(path=str(artifacts / "evaluation.png"))


def test_synth_report_at_full_class_count(synth_page: Opened, synth_lake: Path) -> None:
    assert synth_page.path.stat().st_size < MAX_BYTES
    classes = query(synth_lake, "select count(distinct label_mid) from class_stats").item()
    assert classes > 15_000
    page = synth_page.page
    assert page.locator("#class-count").get_attribute("data-matches") == str(classes)
    total = synth_page.cells("#class-table tfoot tr")[0]
    assert {m: number(total[m]) for m in METRICS} == _class_sums(synth_lake)
    page.fill("#class-search", "/m/01g317")
    assert [r["name"] for r in synth_page.cells("#class-table tbody tr")] == ["Person"]


def test_bare_lake_says_what_it_lacks(bare_page: Opened) -> None:
    page = bare_page.page
    assert "The lake has no class hierarchy" in bare_page.text("#hierarchy")
    assert "The lake has no relationship annotations." in bare_page.text("#relationships")
    assert [r["mid"] for r in bare_page.cells("#class-table tbody tr")] == ["/m/0k4j"]
    page.locator("#class-table a.class-link").click()  # no panel to show it in: nothing breaks
    assert bare_page.errors == []


def test_readme_screenshot(sample_page: Opened, artifacts: Path) -> None:
    """The hierarchy with a class open: the README's picture (refreshed with OILAKE_REPORT_SCREENSHOT)."""
    page = sample_page.page
    page.fill("#hierarchy-search", "carnivore")
    page.locator("#hierarchy-found a.class-link", has_text="Carnivore").first.click()
    page.wait_for_timeout(800)  # the sunburst turns to the class's parent (Mammal): Carnivore is a wedge of it
    wedges = page.locator("[data-figure=sunburst] text.slicetext").all_text_contents()
    assert "Carnivore" in wedges and "Mammal" in wedges and "Vehicle" not in wedges
    shot = artifacts / "hierarchy.png"
    page.locator("#hierarchy").screenshot(path=str(shot))
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / "top.png"))
    assert shot.stat().st_size > 50_000
    target = os.environ.get("OILAKE_REPORT_SCREENSHOT")
    if target:
        shutil.copyfile(shot, target)
