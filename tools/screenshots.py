"""`make screenshots`: render each console page of the running demo with Chromium into docs/img/.

Without ``--url``/``--token`` it starts ``sfsync demo --fresh`` in a temporary data directory,
lets the simulated plant run ``--warmup`` seconds, completes and closes one work order (so the
cost, variance and margin pages have a closed order to show), takes the screenshots and stops the
demo. With ``--url http://127.0.0.1:PORT --token sfs_...`` it uses a demo (or central) that is
already running and changes nothing there.

Needs Playwright (the dev extra) and Chromium (``apt-get install -y chromium``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img"
_API = re.compile(r"sfsync demo: API at (http://[0-9.:]+)/api/v1")
_TOKEN = re.compile(r"sfsync demo: admin token: (\S+)")


def start_demo(data_dir: Path) -> tuple[subprocess.Popen[str], str, str]:
    sfsync = shutil.which("sfsync", path=str(Path(sys.executable).parent)) or "sfsync"
    proc = subprocess.Popen([sfsync, "demo", "--fresh", "--data-dir", str(data_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = token = ""
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    while time.monotonic() < deadline and not (url and token):
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"screenshots: the demo exited early (code {proc.poll()}); see {data_dir}/logs")
        print(line.rstrip())
        if m := _API.search(line):
            url = m.group(1)
        if m := _TOKEN.search(line):
            token = m.group(1)
    if not (url and token):
        stop(proc)
        raise SystemExit("screenshots: the demo did not print its API address and admin token in 120 s")
    threading.Thread(target=proc.stdout.read, name="demo-output", daemon=True).start()  # keep the pipe drained
    return proc, url, token


def stop(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def close_one_order(url: str, token: str) -> str | None:
    """Complete and close the demo's first started work order; its id, or None."""
    http = httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    rows: list[dict[str, Any]] = http.get("/work-orders", params={"status": "started"}).json()["work_orders"]
    for order in rows:
        if http.post(f"/work-orders/{order['id']}/complete").status_code < 300 and \
                http.post(f"/work-orders/{order['id']}/close").status_code < 300:
            return str(order["id"])
    return None


def shoot(url: str, token: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("screenshots: Chromium is not installed (apt-get install -y chromium)")
    out.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(base_url=url, viewport={"width": 1400, "height": 900})
        page.set_default_timeout(30_000)
        page.goto(f"/console/sign-in#token={token}")
        page.wait_for_url(re.compile(r".*/console/plant$"))

        def snap(name: str, path: str | None = None) -> Any:
            if path is not None:
                page.goto(path)
            page.wait_for_load_state("networkidle")
            target = out / f"console-{name}.png"
            page.screenshot(path=str(target), full_page=True)
            made.append(target)
            print(f"screenshots: {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")

        snap("plant", "/console/plant")
        first_machine = page.locator(".card.machine h3 a").first
        if first_machine.count():
            snap("machine", first_machine.get_attribute("href"))
        snap("cost", "/console/cost")
        drill = page.locator("#variances a.drill").first
        if drill.count():
            drill.click()
            snap("order")
            links = [h for h in page.locator("#entries a.entry").evaluate_all("els => els.map(e => e.href)")][:20]
            for href in links:  # the first entry with machine events behind it (a production entry)
                page.goto(href)
                if page.locator("#events tr.event").count():
                    snap("lineage")
                    break
        for name in ("margin", "executive", "queues", "audit"):
            snap(name, f"/console/{name}")
        browser.close()
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running central, e.g. http://127.0.0.1:8080 (default: start the demo)")
    parser.add_argument("--token", help="an API token for --url (admin sees every page)")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds the started demo runs first")
    parser.add_argument("--out", type=Path, default=OUT, help="where the PNGs go (default docs/img)")
    args = parser.parse_args(argv)
    if bool(args.url) != bool(args.token):
        parser.error("--url and --token go together")
    if args.url:
        shoot(args.url.rstrip("/"), args.token, args.out)
        return 0
    with tempfile.TemporaryDirectory(prefix="sfsync-shots-") as tmp:
        proc, url, token = start_demo(Path(tmp) / "demo")
        try:
            time.sleep(args.warmup)
            closed = close_one_order(url, token)
            print(f"screenshots: closed work order {closed}" if closed else "screenshots: no order to close")
            time.sleep(5)
            shoot(url, token, args.out)
        finally:
            stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
