"""report.html of a run, opened in headless Chromium: every search's candidates and lineage with the chosen one
framed; the overview sorts and filters, a click zooms, pages hold ten searches, the figures fit the page, and each
finished image carries the world's ground-truth verdict; an interrupted run's page is rebuilt from its journal."""

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from helpers import CHROMIUM_FLAGS, chromium

pytestmark = pytest.mark.slow  # a browser, and runs made by the command

RUNS = {
    "smc-digits": ["--data.classes", "3,7", "--data.per_condition", "1", "--model.algorithm", "smc",
                   "--model.algorithm_args", "{k: 6}", "--model.budget_nfe", "60"],
    "beam-shapes": ["--model.pipeline", "shapes", "--data.prompts", '["two red circles", "a blue square"]',
                    "--model.algorithm", "beam", "--model.algorithm_args", "{width: 2, branch: 2}"],
}
FLAGS = CHROMIUM_FLAGS


class Page(HTMLParser):
    """The rendered DOM's searches: per section its data attributes, cards and lineage nodes and edges."""

    def __init__(self):
        super().__init__()
        self.body, self.sections, self.inside = {}, [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        elif tag == "main":
            self.inside = True
        elif not self.inside:
            return
        elif tag == "section":
            self.sections.append({**attrs, "cards": [], "chosen_cards": [], "nodes": [], "edges": [], "bars": []})
        elif tag == "div" and "card" in attrs.get("class", "").split():
            self.sections[-1]["cards"].append(int(attrs["data-id"]))
            if "chosen" in attrs["class"].split():
                self.sections[-1]["chosen_cards"].append(int(attrs["data-id"]))
        elif tag == "circle" and "data-id" in attrs:  # lineage nodes (not the legend's)
            self.sections[-1]["nodes"].append(int(attrs["data-id"]))
        elif tag == "rect" and attrs.get("class") in ("ess", "survivors"):
            self.sections[-1]["bars"].append((attrs["class"], float(attrs["data-value"])))
        elif tag == "path" and "edge" in attrs.get("class", ""):
            self.sections[-1]["edges"].append((int(attrs["data-from"]), int(attrs["data-to"])))

    def handle_endtag(self, tag):
        if tag == "main":
            self.inside = False


def rendered(report, fragment="all"):
    done = subprocess.run([chromium(), *FLAGS, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
                           "--dump-dom", f"{report.as_uri()}#{fragment}"], capture_output=True, text=True,
                          timeout=120)
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    page = Page()
    page.feed(done.stdout)
    return page, console


def journal_candidates(out):
    found = {}
    for path in (out / "journal").glob("rank*.jsonl"):
        for record in map(json.loads, path.read_text().splitlines()):
            if record["type"] == "candidate":
                found.setdefault((record["search"], record["repeat"]), []).append(record)
    return found


@pytest.fixture(scope="module", params=list(RUNS))
def run(request, tmp_path_factory):
    from noisesearch.cli import main

    out = tmp_path_factory.mktemp(request.param)
    assert main(["predict", *RUNS[request.param], "--quiet", "true", "--out", str(out)]) == 0  # in this process
    return out


def test_every_search_its_candidates_and_lineage_appear(run):
    page, console = rendered(run / "report.html")
    assert console == [], "the page logged errors"
    summary = json.loads((run / "summary.json").read_text())
    journal = journal_candidates(run)
    assert len(page.sections) == len(summary["results"]) == len(journal)
    assert int(page.body["data-images"]) == sum(len(c) for c in journal.values()) > 0
    assert page.body["data-broken-images"] == "0"
    for section, result in zip(page.sections, summary["results"]):
        records = journal[(section["data-key"], int(section["data-repeat"]))]
        assert sorted(section["cards"]) == sorted(r["id"] for r in records)  # the no-search baseline's card too
        assert sorted(section["nodes"]) == sorted(r["id"] for r in records if r["id"] >= 0)  # its lineage
        assert -1 in section["cards"], "smc and beam solve the first noise beside the search"
        records = [r for r in records if r["id"] >= 0]
        assert int(section["data-chosen"]) == result["candidate"] == section["chosen_cards"][0]
        assert len(section["chosen_cards"]) == 1
        expected = {(parent, r["id"]) for r in records for parent in [*r["parents"], r["start"]] if parent is not None}
        assert set(section["edges"]) == expected
        assert expected, "the search has a lineage to draw"


def test_smc_searches_draw_the_ess_and_survivors_of_every_weighed_level(run):
    page, _ = rendered(run / "report.html")
    summary = json.loads((run / "summary.json").read_text())
    for section, result in zip(page.sections, summary["results"]):
        levels = (result.get("trace") or {}).get("levels", [])
        assert bool(levels) == ("smc" in run.name)
        expected = [(kind, float(entry[key])) for entry in levels
                    for kind, key in (("ess", "ess"), ("survivors", "survivors"))]
        assert section["bars"] == expected


def test_screenshot_shows_the_page_and_pages_hold_ten_searches(run, tmp_path):
    shot = tmp_path / "report.png"
    subprocess.run([chromium(), *FLAGS, f"--screenshot={shot}", "--window-size=1280,1600",
                    (run / "report.html").as_uri()], capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (1600, 1280) and pixels.std() > 10, "the screenshot is blank"
    page, _ = rendered(run / "report.html", "page=1")
    assert 0 < len(page.sections) <= 10


def test_report_of_an_interrupted_run_is_rebuilt_from_its_journal(run, tmp_path, cli):
    out = tmp_path / "interrupted"
    shutil.copytree(run, out)
    (out / "summary.json").unlink()
    (out / "report.html").unlink()
    journal = out / "journal" / "rank0.jsonl"
    lines = [line for line in journal.read_text().splitlines() if json.loads(line)["type"] == "candidate"]
    journal.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    done = cli("report", str(out))
    assert done.returncode == 0, done.stderr
    page, console = rendered(out / "report.html")
    assert console == [] and page.body["data-broken-images"] == "0"
    assert sum(len(s["cards"]) for s in page.sections) == len(lines) // 2
    assert all(s["data-chosen"] == "" for s in page.sections)
    assert re.search(r"not finished", (out / "report.html").read_text())


class Overview(HTMLParser):
    """The rendered overview's rows in order, the zoom box, the body's attributes and the searches shown."""

    def __init__(self):
        super().__init__()
        self.body, self.rows, self.zoom, self.sections, self.row, self.inside = {}, [], None, 0, None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        elif tag == "tr" and "data-position" in attrs:
            self.row = {**attrs, "cells": []}
            self.rows.append(self.row)
        elif tag == "td" and self.row is not None:
            self.row["cells"].append(attrs.get("data-value"))
        elif tag == "div" and attrs.get("id") == "zoom":
            self.zoom = attrs
        elif tag == "main":
            self.inside = True
        elif tag == "section" and self.inside:
            self.sections += 1

    def handle_endtag(self, tag):
        if tag == "main":
            self.inside = False


def dom(report, fragment=""):
    done = subprocess.run([chromium(), *FLAGS, "--virtual-time-budget=5000", "--window-size=1280,1600",
                           "--dump-dom", f"{report.as_uri()}#{fragment}"], capture_output=True, text=True, timeout=120)
    page = Overview()
    page.feed(done.stdout)
    return page


@pytest.fixture(scope="module")
def report(digits_run):
    """The report of the session's finished digits run (conftest: 12 searches of 16 candidates)."""
    out, _ = digits_run
    return out / "report.html"


def test_the_overview_sorts_and_pages_hold_ten_searches(report):
    page = dom(report)
    assert len(page.rows) == 12 and page.sections == 10
    assert dom(report, "page=2").sections == 2
    by_gain = dom(report, "sort=7-desc")
    gains = [float(row["cells"][7]) if row["cells"][7] else float("-inf") for row in by_gain.rows]
    assert gains == sorted(gains, reverse=True) and by_gain.body["data-sorted"] == "7-desc"
    assert [row["data-position"] for row in by_gain.rows] != [row["data-position"] for row in page.rows]
    by_condition = dom(report, "sort=1-asc")
    assert [row["cells"][1] for row in by_condition.rows] == sorted(row["cells"][1] for row in page.rows)


def test_zoom_opens_on_the_full_resolution_image(report):
    closed, opened = dom(report), dom(report, "zoom=3")
    assert "hidden" in closed.zoom and "hidden" not in opened.zoom
    assert opened.body["data-zoomed"].startswith("1, chosen #")
    text = report.read_text()
    assert re.search(r"data-full=\"images/0003-class1-r1\.png\"", text)


def test_figures_fit_the_page_and_images_load(report):
    page = dom(report, "all")
    assert page.body["data-overflowing"] == "" and page.body["data-broken-images"] == "0"
    assert int(page.body["data-images"]) == 12 * 16


def test_every_finished_image_has_the_worlds_verdict(report):
    text = report.read_text()
    verdicts = re.findall(r'<span class="verdict (correct|wrong)">', text)
    assert len(verdicts) == 12 * 16  # every candidate of a random search is finished
    rows = dom(report).rows
    assert {row["data-verdict"] for row in rows} <= {"correct", "wrong"}
    for verdict in ("correct", "wrong"):
        shown = [row for row in dom(report, f"verdict={verdict}").rows if "hidden" not in row]
        assert len(shown) == sum(row["data-verdict"] == verdict for row in rows)
        assert all(row["data-verdict"] == verdict for row in shown)
    assert [row["cells"][1] for row in dom(report, "filter=3").rows if "hidden" not in row] == ["3", "3"]
    summary = json.loads((report.parent / "summary.json").read_text())
    first = ["correct" if r["first_verdict"] else "wrong" for r in summary["results"]]
    chosen = ["correct" if r["verdict"] else "wrong" for r in summary["results"]]
    assert [row["cells"][5] for row in rows] == first and [row["data-verdict"] for row in rows] == chosen
    assert (f"the world's judge: chosen correct {chosen.count('correct')} of 12, first draw "
            f"{first.count('correct')} of 12") in html.unescape(text)
