"""Screenshots of the Dagster UI for docs/: the asset graph, a KPI asset's page, a partition's metadata.

    uv run python docs/screenshot_asset_graph.py --page graph --url http://127.0.0.1:3000
    uv run python docs/screenshot_asset_graph.py --page kpi --url http://127.0.0.1:3000
    uv run python docs/screenshot_asset_graph.py --page partition --url http://127.0.0.1:3000

``--page graph`` writes docs/asset-graph.png (the global lineage, every group expanded),
``--page kpi`` docs/kpi-asset.png (``--asset``, default analytics/mv_campaign_ctr: row count,
columns and the ``preview`` table), ``--page partition`` docs/partition-metadata.png (``--asset``,
default analytics/fact_impressions, one day's partition: ``--partition``, default the day
before the newest one loaded, a whole day). ``--out`` writes elsewhere.

Needs a running ``dg dev`` with data in it (see docs/ui.md) and Debian's ``chromium``
(apt-get install chromium). Chromium's own ``--screenshot`` flag captures the lineage page
before it has zoomed to fit the expanded groups, and the asset pages before their metadata has
loaded, so this drives headless Chromium over the DevTools protocol instead: open the page, wait
until what it is meant to show is there, hide the side bars (on the graph, zoom to fit: the
viewport's double-click), then capture.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import websockets

DIRECTION = "vertical"
GROUPS = ("sources", "dims", "facts", "rollups", "kpis")
LOCATION, REPOSITORY = "adtech_assets", "__repository__"
HIDE_NAVIGATION = """
(() => {
  [...document.querySelectorAll('a, button')].find((el) => el.innerText.trim() === 'Hide navigation')?.click();
})()
"""
# The lineage page's asset tree, the button right of its search box.
HIDE_ASSET_TREE = """
(() => {
  const jump = document.querySelector('input[placeholder^="Jump to"]')?.getBoundingClientRect();
  if (!jump) return;
  [...document.querySelectorAll('button')].find((button) => {
    const box = button.getBoundingClientRect();
    return Math.abs(box.y - jump.y) < 20 && box.x > jump.right && box.x < jump.right + 60;
  })?.click();
})()
"""
ZOOM_TO_FIT = """
(() => {
  const viewport = document.querySelector('[data-svg-viewport]');
  viewport.dispatchEvent(new MouseEvent('dblclick', {bubbles: true, cancelable: true}));
})()
"""
# The asset page's Description section takes room the metadata needs: fold it.
FOLD_DESCRIPTION = """
(() => {
  const heading = [...document.querySelectorAll('span')].find((el) => el.childElementCount === 0
    && el.textContent.trim() === 'Description');
  heading?.closest('button')?.click();
})()
"""


@dataclass(frozen=True)
class Page:
    out: Path
    ready: str  # a JavaScript expression, true once the page shows what it is for
    steps: tuple[tuple[str, float], ...]  # (script, seconds to let it settle) after ready
    width: int
    height: int


PAGES = {
    "graph": Page(Path("docs/asset-graph.png"), "document.body.innerText.includes('agg_campaign_daily')",
                  ((HIDE_NAVIGATION, 0.5), (HIDE_ASSET_TREE, 1), (ZOOM_TO_FIT, 2)), 1600, 1000),
    "kpi": Page(Path("docs/kpi-asset.png"),
                "document.body.innerText.includes('Show schema') && document.body.innerText.includes('Row count')",
                ((HIDE_NAVIGATION, 0.5), (FOLD_DESCRIPTION, 1)), 1800, 1660),
    "partition": Page(Path("docs/partition-metadata.png"), "document.body.innerText.includes('fingerprint')",
                      ((HIDE_NAVIGATION, 1),), 1400, 900),
}
DEFAULT_ASSET = {"kpi": "analytics/mv_campaign_ctr", "partition": "analytics/fact_impressions"}


def graphql(base: str, query: str, **variables) -> dict:
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(f"{base.rstrip('/')}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    reply = json.loads(urllib.request.urlopen(request, timeout=30).read())
    if reply.get("errors"):
        raise SystemExit(f"GraphQL: {reply['errors'][0].get('message')}")
    return reply["data"]


def dismiss_welcome_dialog(base: str) -> None:
    """The community dialog shows on first visit to a local instance; mark it seen."""
    graphql(base, "mutation { setNuxSeen }")


def default_partition(base: str, asset: str) -> str:
    """The day before the newest materialized one (the newest is often today, still filling)."""
    data = graphql(base, """query ($key: AssetKeyInput!) { assetOrError(assetKey: $key) {
        ... on Asset { assetMaterializations(limit: 1000) { partition } } } }""",
                   key={"path": asset.split("/")})
    days = sorted({m["partition"] for m in data["assetOrError"].get("assetMaterializations") or []
                   if m["partition"]})
    if not days:
        raise SystemExit(f"{asset} has no materialized partition: run `adtech sync` first")
    return days[-2] if len(days) > 1 else days[-1]


def page_url(base: str, page: str, asset: str | None, partition: str | None) -> str:
    base = base.rstrip("/")
    if page == "graph":
        expanded = ",".join(
            group_id for group in GROUPS
            for group_id in (f"global@global:{group}", f"{REPOSITORY}@{LOCATION}:{group}")
        )
        return f"{base}/asset-groups?expanded={expanded}"
    path = "/".join(urllib.parse.quote(part) for part in asset.split("/"))
    if page == "kpi":
        return f"{base}/assets/{path}?view=overview"
    return f"{base}/assets/{path}?" + urllib.parse.urlencode({"view": "partitions", "partition": partition})


class DevTools:
    def __init__(self, socket, session_id: str | None = None):
        self.socket, self.session_id, self.ids = socket, session_id, itertools.count(1)

    async def send(self, method: str, **params):
        message_id = next(self.ids)
        message = {"id": message_id, "method": method, "params": params}
        if self.session_id:
            message["sessionId"] = self.session_id
        await self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(await self.socket.recv())
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    async def evaluate(self, expression: str):
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")


async def capture(browser_ws: str, base: str, url: str, page_spec: Page, out: Path, width: int, height: int,
                  timeout: float) -> None:
    async with websockets.connect(browser_ws, max_size=64 * 1024 * 1024) as socket:
        browser = DevTools(socket)
        target = (await browser.send("Target.createTarget", url="about:blank"))["targetId"]
        session = (await browser.send("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
        page = DevTools(socket, session)
        await page.send("Page.bringToFront")  # a background tab gets no animation frames
        await page.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=1, mobile=False)
        await page.send("Page.navigate", url=base.rstrip("/") + "/robots.txt")
        await asyncio.sleep(1)
        await page.evaluate(f"localStorage.setItem('asset-graph-direction', JSON.stringify('{DIRECTION}'))")
        await page.send("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while not await page.evaluate(page_spec.ready):
            if time.monotonic() > deadline:
                text = await page.evaluate("document.body.innerText.slice(0, 300)")
                raise TimeoutError(f"{url} did not render within {timeout:.0f} s: {text!r}")
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)  # the layout settles after the content appears
        for script, settle in page_spec.steps:
            await page.evaluate(script)
            await asyncio.sleep(settle)
        shot = await page.send("Page.captureScreenshot", format="png")
        out.write_bytes(base64.b64decode(shot["data"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", choices=sorted(PAGES), default="graph",
                        help="graph: the global lineage; kpi: a KPI asset's page; partition: one day's metadata")
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="the dg dev webserver")
    parser.add_argument("--asset", help="the asset key, slash-separated (kpi, partition)")
    parser.add_argument("--partition", help="the day (partition); default the day before the newest one loaded")
    parser.add_argument("--out", type=Path, help="default docs/asset-graph.png, kpi-asset.png, partition-metadata.png")
    parser.add_argument("--width", type=int, help="the viewport's width; default 1600 (graph), 1800 (kpi), 1400")
    parser.add_argument("--height", type=int, help="the viewport's height; default 1000 (graph), 1660 (kpi), 900")
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()

    spec = PAGES[args.page]
    out = args.out or spec.out
    asset = args.asset or DEFAULT_ASSET.get(args.page)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("chromium not found: apt-get install -y chromium")
    dismiss_welcome_dialog(args.url)
    partition = args.partition or (default_partition(args.url, asset) if args.page == "partition" else None)
    url = page_url(args.url, args.page, asset, partition)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("chromium did not open its DevTools port")
                time.sleep(0.2)
            port, path = port_file.read_text().splitlines()[:2]
            asyncio.run(capture(f"ws://127.0.0.1:{port}{path}", args.url, url, spec, out,
                                args.width or spec.width, args.height or spec.height, args.timeout))
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB): {url}")


if __name__ == "__main__":
    main()
