"""The README's console screenshots, made by the browser the tests use (headless Chromium
through Selenium) from a demo database, so they show what a new user sees after
`voicebot demo-data`.

    PYTHONPATH=$PWD python3 scripts/console_screenshots.py [--out docs/console] [--port 8765]

It seeds a demo database in a temporary directory, starts `voicebot serve` on it, logs in
with the demo's supervisor token and saves live.png, call.png and kpis.png.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.browser import By, WebDriverWait, chromium, ec

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "call_flows" / "examples" / "support-ab.yaml"
TOKEN = re.compile(r"^(vb_\S+)$", re.MULTILINE)


def voicebot(*args: str, env: dict[str, str], **kwargs) -> subprocess.Popen | str:
    command = [sys.executable, "-m", "voicebot", *args]
    if kwargs.pop("background", False):
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                          check=True, timeout=600).stdout


def wait_until_ready(base: str, server: subprocess.Popen, limit_s: float = 180) -> None:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if server.poll() is not None:
            raise SystemExit(f"voicebot serve exited with {server.returncode}")
        try:
            if requests.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(1)
    raise SystemExit(f"{base} was not ready within {limit_s:.0f} s")


def shoot(browser, url: str, ready_css: str, path: Path, height: int) -> None:
    browser.set_window_size(1280, height)
    browser.get(url)
    WebDriverWait(browser, 30).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ready_css)))
    browser.save_screenshot(str(path))
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.sqlite3"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "VOICEBOT_DB": str(db),
               "VOICEBOT_PUBLIC_URL": f"http://127.0.0.1:{args.port}"}
        seeded = voicebot("demo-data", "--db", str(db), "--flow", str(FLOW), env=env)
        token = TOKEN.search(seeded)
        if token is None:
            raise SystemExit(f"no token in the output of demo-data:\n{seeded}")
        base = f"http://127.0.0.1:{args.port}"
        server = voicebot("serve", "--insecure-no-signature", "--flow", str(FLOW),
                          "--port", str(args.port), env=env, background=True)
        browser = None
        try:
            wait_until_ready(base, server)
            browser = chromium()
            browser.get(base + "/console/login")
            browser.find_element(By.ID, "token").send_keys(token.group(1))
            browser.find_element(By.ID, "login").click()
            shoot(browser, base + "/console/", "#live", args.out / "live.png", 900)
            browser.get(base + "/console/calls?result=handed_over&reason=no_match")
            call = browser.find_element(By.CSS_SELECTOR, "#calls tr[data-call] a")
            shoot(browser, call.get_attribute("href"), "#timeline", args.out / "call.png",
                  1100)
            shoot(browser, base + "/console/kpis?since=30d", ".charts svg",
                  args.out / "kpis.png", 1800)
        finally:
            if browser is not None:
                browser.quit()
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
