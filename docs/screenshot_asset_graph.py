"""Screenshot of the asset graph in the Dagster UI, for docs/asset-graph.png.

    uv run python docs/screenshot_asset_graph.py --url http://127.0.0.1:3000 --out docs/asset-graph.png

Needs a running ``dagster dev`` (see docs/ui.md) and Debian's ``chromium`` (apt-get install
chromium). Chromium's own ``--screenshot`` flag captures the lineage page before it has zoomed
to fit the expanded groups, so this drives headless Chromium over the DevTools protocol
instead: open the global lineage with every group expanded, wait for the nodes, hide the side
bars, zoom to fit (the viewport's double-click), then capture.
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
import urllib.request
from pathlib import Path

import websockets

DIRECTION = "vertical"
GROUPS = ("sources", "dims", "facts", "rollups", "kpis")
LOCATION, REPOSITORY = "adtech_assets", "__repository__"
READY = "document.body.innerText.includes('agg_campaign_daily')"
# The side bars: the global navigation and the lineage page's asset tree.
HIDE_SIDEBARS = """
(() => {
  [...document.querySelectorAll('a, button')].find((el) => el.innerText.trim() === 'Hide navigation')?.click();
  const jump = document.querySelector('input[placeholder^="Jump to"]').getBoundingClientRect();
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


def lineage_url(base: str) -> str:
    expanded = ",".join(
        group_id for group in GROUPS
        for group_id in (f"global@global:{group}", f"{REPOSITORY}@{LOCATION}:{group}")
    )
    return f"{base.rstrip('/')}/asset-groups?expanded={expanded}"


def dismiss_welcome_dialog(base: str) -> None:
    """The community dialog shows on first visit to a local instance; mark it seen."""
    body = json.dumps({"query": "mutation { setNuxSeen }"}).encode()
    request = urllib.request.Request(f"{base.rstrip('/')}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=30).read()


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


async def capture(browser_ws: str, url: str, out: Path, width: int, height: int, timeout: float) -> None:
    async with websockets.connect(browser_ws, max_size=64 * 1024 * 1024) as socket:
        browser = DevTools(socket)
        target = (await browser.send("Target.createTarget", url="about:blank"))["targetId"]
        session = (await browser.send("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
        page = DevTools(socket, session)
        await page.send("Page.bringToFront")  # a background tab gets no animation frames
        await page.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=1, mobile=False)
        await page.send("Page.navigate", url=url.split("/asset-groups")[0] + "/robots.txt")
        await asyncio.sleep(1)
        await page.evaluate(f"localStorage.setItem('asset-graph-direction', JSON.stringify('{DIRECTION}'))")
        await page.send("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while not await page.evaluate(READY):
            if time.monotonic() > deadline:
                text = await page.evaluate("document.body.innerText.slice(0, 300)")
                raise TimeoutError(f"the asset graph did not render within {timeout:.0f} s: {text!r}")
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)  # the layout settles after the nodes appear
        await page.evaluate(HIDE_SIDEBARS)
        await asyncio.sleep(1)
        await page.evaluate(ZOOM_TO_FIT)
        await asyncio.sleep(2)  # the zoom animates
        shot = await page.send("Page.captureScreenshot", format="png")
        out.write_bytes(base64.b64decode(shot["data"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="the dagster dev webserver")
    parser.add_argument("--out", type=Path, default=Path("docs/asset-graph.png"))
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("chromium not found: apt-get install -y chromium")
    dismiss_welcome_dialog(args.url)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
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
            asyncio.run(capture(f"ws://127.0.0.1:{port}{path}", lineage_url(args.url), args.out,
                                args.width, args.height, args.timeout))
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
