"""Regenerate the README's screenshots: the report's scorecard and the demo, in headless Chromium.

    python docs/screenshots.py            # after `make repro`: reports/index.html and models/generator.keras

Needs Debian's chromium (/usr/bin/chromium) and the dev extras (playwright, gradio).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.servers, the test helpers that start local servers
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip


def main() -> None:
    from playwright.sync_api import sync_playwright
    from tests.servers import free_port

    from fashion_dcgan.serving.demo import launch

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto((ROOT / "reports" / "index.html").as_uri(), wait_until="load")
        top = page.locator("h1").bounding_box()["y"]
        bottom = page.locator("table.scorecard").bounding_box()
        page.screenshot(
            path=str(ROOT / "docs" / "report_scorecard.png"),
            clip={"x": 0, "y": top, "width": 1200, "height": bottom["y"] + bottom["height"] - top + 60},
        )

        port = free_port()
        app = launch(str(ROOT / "models" / "generator.keras"), port, block=False)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
            page.get_by_label("images (1-100)").fill("36")
            page.get_by_role("button", name="Draw").click()
            page.locator("img").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(ROOT / "docs" / "demo.png"), full_page=True)
        finally:
            app.close()
        browser.close()
    print("wrote docs/report_scorecard.png and docs/demo.png")


if __name__ == "__main__":
    sys.exit(main())
