"""A local order-lookup HTTP service for live tests and scripts/chaos.py.

GET /orders/<number> answers the record from call_flows/data/orders.csv as JSON (404 when
there is none). `trickle_s` > 0 makes it a server that trickles: the headers at once, then
the body one byte every `trickle_s` seconds (a per-read timeout never fires on it).
"""

from __future__ import annotations

import csv
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ORDERS_CSV = Path(__file__).resolve().parent.parent / "call_flows" / "data" / "orders.csv"


class OrdersServer:
    def __init__(self, orders_csv: Path = ORDERS_CSV) -> None:
        with open(orders_csv, newline="", encoding="utf-8") as fh:
            self.orders = {row["order_number"]: row for row in csv.DictReader(fh)}
        self.trickle_s = 0.0
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.requests += 1
                number = self.path.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
                record = server.orders.get(number)
                body = json.dumps(record or {"error": "no such order"}).encode()
                self.send_response(200 if record else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if server.trickle_s <= 0:
                        self.wfile.write(body)
                        return
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(server.trickle_s)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def flow_with_http_lookup(flow_yaml: Path, out: Path, url: str, timeout_s: float) -> Path:
    """A copy of a flow whose file lookups ask `url`/orders/{key} instead, with a timeout."""
    text = flow_yaml.read_text(encoding="utf-8")
    old = "      file: data/orders.csv\n"
    assert old in text, "the flow has no orders.csv lookup to replace"
    text = text.replace(old, f"      url: {url}/orders/{{order_number}}\n"
                             f"      timeout: {timeout_s:g}\n")
    out.write_text(text, encoding="utf-8")
    return out
