"""``make site-test``: the built course website in a real browser (headless Chromium through Playwright).

It serves ``build/site/html`` on localhost and visits every page reachable from the home page (lessons,
instructor notes, slide decks): each must load with no console error and no request leaving localhost (the site
must work offline), every internal link must resolve (HTTP 200) and every image must have loaded (a natural
width above zero). Then: the search page finds notebook 10a from a word of its lesson, the Colab link of 10a's
page points at 10a's notebook, and the slides start (reveal.js ready). Screenshots of the home page and of one
lesson go to ``build/site-test/``. Playwright drives Debian's ``chromium`` (``apt-get install chromium``): its
own browser download needs the network.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import socketserver
import sys
import threading
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlparse

ROOT = Path(__file__).resolve().parent.parent
SEARCH_TERM = "softmax"  # a word of lesson 10a (attention): the search must list 10a among its results
SEARCH_PAGE = "10a_attention"


@dataclass
class Report:
    """What the browser saw."""

    pages: list[str] = field(default_factory=list)
    links: set[str] = field(default_factory=set)
    images: int = 0
    problems: list[str] = field(default_factory=list)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a browser that drops a connection (it navigated on) is not a problem of the site


def serve(folder: Path) -> tuple[socketserver.TCPServer, str]:
    """Serve ``folder`` on a free localhost port in a thread; returns the server and its base URL."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def chromium() -> str:
    """The system Chromium (Debian's package), or a clear error with the fix."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise RuntimeError("make site-test needs Chromium: apt-get install chromium (Debian's package; Playwright's "
                       "own browser download needs the network)")


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def check(folder: Path, shots: Path) -> Report:
    """Visit the site in ``folder``; return what was checked and every problem found."""
    from playwright.sync_api import sync_playwright

    if not (folder / "index.html").is_file():
        raise FileNotFoundError(f"no site in {folder}: run make site (or make site SMOKE=1) first")
    report = Report()
    server, base = serve(folder)
    shots.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            current = {"url": ""}
            def on_console(message: Any) -> None:
                if message.type == "error":
                    report.problems.append(f"{current['url']}: console error: {message.text}")

            def on_response(response: Any) -> None:
                if response.status >= 400:
                    report.problems.append(f"{current['url']}: HTTP {response.status} for {response.url}")

            def on_request(request: Any) -> None:
                if not request.url.startswith((base, "data:", "blob:")):
                    report.problems.append(f"{current['url']}: request leaves the site (fails offline): {request.url}")

            page.on("console", on_console)
            page.on("pageerror", lambda error: report.problems.append(f"{current['url']}: script error: {error}"))
            page.on("response", on_response)
            page.on("request", on_request)
            queue, seen = deque([base + "index.html"]), {base + "index.html"}
            while queue:
                url = queue.popleft()
                current["url"] = url[len(base):]
                response = page.goto(url, wait_until="load")
                if response is None or response.status != 200:
                    report.problems.append(f"{current['url']}: HTTP {response.status if response else '?'}")
                    continue
                page.wait_for_timeout(150)  # scripts that run after load (MathJax, search) report here
                report.pages.append(current["url"])
                broken = page.eval_on_selector_all(
                    "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80))")
                report.images += page.eval_on_selector_all("img", "imgs => imgs.length")
                report.problems += [f"{current['url']}: image does not load: {src}" for src in broken]
                for href in page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)"):
                    target = urldefrag(urljoin(url, href))[0]
                    if not target.startswith(base):
                        continue
                    report.links.add(target)
                    if target.endswith(".html") and "/_static/" not in target and target not in seen:
                        seen.add(target)
                        queue.append(target)
            for target in sorted(report.links):
                if (code := _status(target)) != 200:
                    report.problems.append(f"link to {target[len(base):]} gives HTTP {code}")
            _special_checks(page, base, report, shots, current)
            browser.close()
    finally:
        server.shutdown()
    return report


def _special_checks(page: Any, base: str, report: Report, shots: Path, current: dict[str, str]) -> None:
    """Search, the Colab link, the slides, and the two screenshots."""
    current["url"] = "search.html"
    page.goto(f"{base}search.html?q={SEARCH_TERM}", wait_until="load")
    try:
        page.wait_for_selector("#search-results ul li a, ul.search li a", timeout=15_000)
    except Exception:
        report.problems.append(f"search for {SEARCH_TERM!r} shows no result")
    else:
        hits = page.eval_on_selector_all("ul.search li a", "as => as.map(a => a.href)")
        if not any(SEARCH_PAGE in h for h in hits):
            report.problems.append(f"search for {SEARCH_TERM!r} does not list {SEARCH_PAGE} ({len(hits)} results)")
    lesson = f"{base}lessons/{SEARCH_PAGE}.html"
    current["url"] = f"lessons/{SEARCH_PAGE}.html"
    page.goto(lesson, wait_until="load")
    colab = page.eval_on_selector_all("a[href*='colab.research.google.com']", "as => as.map(a => a.href)")
    if not colab or not all(urlparse(c).path.endswith(f"/{SEARCH_PAGE}.ipynb") for c in colab):
        report.problems.append(f"the Colab link of {SEARCH_PAGE} does not open {SEARCH_PAGE}.ipynb: {colab}")
    page.screenshot(path=str(shots / "lesson.png"))
    current["url"] = f"slides/{SEARCH_PAGE}.html"
    page.goto(f"{base}slides/{SEARCH_PAGE}.html", wait_until="load")
    if not page.evaluate("() => typeof Reveal !== 'undefined' && Reveal.isReady()"):
        report.problems.append(f"the slides of {SEARCH_PAGE} do not start (reveal.js not ready)")
    page.screenshot(path=str(shots / "slides.png"))
    current["url"] = "index.html"
    page.goto(f"{base}index.html", wait_until="load")
    page.screenshot(path=str(shots / "home.png"), full_page=True)


def main(argv: list[str] | None = None) -> int:
    """Check the built site; exit 1 on any problem."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--site", type=Path, default=ROOT / "build" / "site" / "html")
    parser.add_argument("--shots", type=Path, default=ROOT / "build" / "site-test")
    args = parser.parse_args(argv)
    try:
        report = check(args.site, args.shots)
    except (FileNotFoundError, RuntimeError) as error:
        print(f"site-test: {error}", file=sys.stderr)
        return 1
    print(f"site-test: {len(report.pages)} pages visited, {len(report.links)} internal links and "
          f"{report.images} images checked, screenshots in {args.shots}")
    for problem in report.problems:
        print(f"  PROBLEM {problem}")
    print(f"{len(report.problems)} problems" if report.problems else "no problems: 0 console errors, every link "
          "and image resolves, nothing requested from outside the site")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
