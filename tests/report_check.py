"""Look at a Snakemake HTML report the way a person does: in headless Chromium (Debian's `chromium`,
driven by Playwright), open each category, open each result, and check what the browser rendered
(the summary table inside its frame, every figure decoded to a non-empty image). Screenshots of each
view are saved.

    python tests/report_check.py reports/report.html --screenshots reports/screenshots
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from revmux.core.layout import FIGURES, SUMMARY_CATEGORY, SUMMARY_TABLE_ID

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
]
SUMMARY_TABLE = f"#{SUMMARY_TABLE_ID}"


def chromium_path() -> str | None:
    return os.environ.get("REVMUX_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _open(page, uri: str, *names: str) -> None:
    """From the report's start page, click through the named category (and subcategory)."""
    page.goto(uri)
    for name in names:
        _link(page, name).click()
        page.wait_for_timeout(300)


def _link(page, name: str):
    """The report's navigation link with this exact name (the description may mention it too)."""
    return page.locator("a").get_by_text(name, exact=True).first


def _eyes(page):
    return page.locator("a[iconname=eye]")


def check_report(report: Path, screenshots: Path, figure_categories: list[str], backbones: list[str],
                 min_summary_rows: int) -> dict:
    """Raise AssertionError saying what did not render; return what was seen."""
    from playwright.sync_api import sync_playwright

    screenshots.mkdir(parents=True, exist_ok=True)
    uri = report.resolve().as_uri()
    seen: dict = {"summary_rows": 0, "figures": {}}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(uri)
            _link(page, SUMMARY_CATEGORY).wait_for(timeout=30_000)
            page.screenshot(path=screenshots / "0-start.png")

            _open(page, uri, SUMMARY_CATEGORY)
            assert _eyes(page).count() == 1, f"category {SUMMARY_CATEGORY!r} should list the summary table"
            _eyes(page).first.click()
            frame = next((f for f in page.frames if f.url.startswith("data:text/html")), None)
            assert frame is not None, "the summary table did not open in the report"
            frame.locator(SUMMARY_TABLE).wait_for(timeout=10_000)
            rows = frame.locator(f"{SUMMARY_TABLE} tbody tr").count()
            headers = " | ".join(frame.locator(f"{SUMMARY_TABLE} thead th").all_inner_texts())
            seen["summary_rows"] = rows
            assert rows >= min_summary_rows, f"the summary table shows {rows} rows, expected at least {min_summary_rows}"
            assert "accuracy" in headers and "speedup" in headers, f"summary table headers: {headers}"
            page.screenshot(path=screenshots / "1-summary.png")

            for number, category in enumerate(figure_categories, start=2):
                for backbone in backbones:
                    _open(page, uri, category, backbone)
                    count = _eyes(page).count()
                    assert count > 0, f"category {category!r}, {backbone}: no figure listed"
                    for index in range(count):
                        _eyes(page).nth(index).click()
                        image = page.locator("img[src^='data:image/svg+xml']:not([src*='filename=logo.svg'])").last
                        image.wait_for(timeout=10_000)
                        width = image.evaluate("img => img.complete ? img.naturalWidth : 0")
                        assert width > 0, f"category {category!r}, {backbone}: figure {index} did not render"
                        page.screenshot(path=screenshots / f"{number}-{backbone}-{index}.png")
                    seen["figures"][f"{category} / {backbone}"] = count
        finally:
            browser.close()
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path)
    parser.add_argument("--screenshots", type=Path, default=Path("reports/screenshots"))
    parser.add_argument("--backbone", action="append", required=True, help="a backbone subcategory to open (repeatable)")
    parser.add_argument("--min-summary-rows", type=int, default=1)
    args = parser.parse_args()
    print(check_report(args.report, args.screenshots, list(FIGURES.values()), args.backbone, args.min_summary_rows))


if __name__ == "__main__":
    main()
