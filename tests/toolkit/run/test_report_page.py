"""report.html in headless Chromium: the overview sorts and filters, a click zooms, pages hold ten searches, the
figures fit the page, and each finished image carries the world's ground-truth verdict."""

import re
import subprocess
from html.parser import HTMLParser

import pytest

import noisesearch
from helpers import CHROMIUM_FLAGS as FLAGS
from helpers import chromium


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
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    noisesearch.search(classes=[0, 1, 2, 3, 4, 5], per_condition=2, budget_nfe=28, out=out)
    return out / "report.html"


def test_the_overview_sorts_and_pages_hold_ten_searches(report):
    page = dom(report)
    assert len(page.rows) == 12 and page.sections == 10
    assert dom(report, "page=2").sections == 2
    by_gain = dom(report, "sort=6-desc")
    gains = [float(row["cells"][6]) if row["cells"][6] else float("-inf") for row in by_gain.rows]
    assert gains == sorted(gains, reverse=True) and by_gain.body["data-sorted"] == "6-desc"
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
    assert int(page.body["data-images"]) == 12 * 4


def test_every_finished_image_has_the_worlds_verdict(report):
    text = report.read_text()
    verdicts = re.findall(r'<span class="verdict (correct|wrong)">', text)
    assert len(verdicts) == 12 * 4  # every candidate of a random search is finished
    rows = dom(report).rows
    assert {row["data-verdict"] for row in rows} <= {"correct", "wrong"}
    for verdict in ("correct", "wrong"):
        shown = [row for row in dom(report, f"verdict={verdict}").rows if "hidden" not in row]
        assert len(shown) == sum(row["data-verdict"] == verdict for row in rows)
        assert all(row["data-verdict"] == verdict for row in shown)
    assert [row["cells"][1] for row in dom(report, "filter=3").rows if "hidden" not in row] == ["3", "3"]
