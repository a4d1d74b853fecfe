"""lookup.perform against real files and a real local HTTP server; it never raises."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from voicebot.flow.events import LookupDone, PerformLookup
from voicebot.flow.lookup import perform

ROOT = Path(__file__).resolve().parents[2]
ORDERS = ROOT / "call_flows" / "data" / "orders.csv"


def req(source, value, key="order_number"):
    return PerformLookup(node="find", source={"key": key, **source}, params={key: value})


def test_csv_found_and_not_found():
    done = perform(req({"file": str(ORDERS)}, "4512"))
    assert done.ok and done.record["status"] == "shipped"
    assert perform(req({"file": str(ORDERS)}, "9999")) == LookupDone(ok=True, record=None)


def test_json_list_and_keyed_object(tmp_path):
    lst = tmp_path / "a.json"
    lst.write_text(json.dumps([{"order_number": 4512, "status": "shipped"}]))
    assert perform(req({"file": str(lst)}, "4512")).record["status"] == "shipped"
    keyed = tmp_path / "b.json"
    keyed.write_text(json.dumps({"4512": {"status": "late"}}))
    rec = perform(req({"file": str(keyed)}, "4512")).record
    assert rec == {"order_number": "4512", "status": "late"}


def test_missing_or_broken_file_is_a_failure_not_an_exception(tmp_path):
    done = perform(req({"file": str(tmp_path / "gone.csv")}, "1"))
    assert not done.ok and "FileNotFoundError" in done.error
    broken = tmp_path / "x.json"
    broken.write_text("{nope")
    assert not perform(req({"file": str(broken)}, "1")).ok
    assert not perform(PerformLookup("n", {"key": "k"}, {"k": "1"})).ok


TOKEN = "s3cret-T0ken-4512"
SEEN: list[tuple[str, dict[str, str]]] = []  # (path, headers) of every request the server got


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        SEEN.append((self.path, dict(self.headers.items())))
        if self.path.startswith("/slow"):
            time.sleep(1.5)
        if self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", self.path.split("?to=", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/auth/") and \
                self.headers.get("Authorization") != f"Bearer {TOKEN}":
            body = b'{"error": "unauthorized"}'
            self.send_response(401)
        elif self.path.startswith(("/orders/4512", "/slow", "/auth/4512")):
            body = json.dumps({"order_number": "4512", "status": "shipped"}).encode()
            self.send_response(200)
        elif self.path.startswith("/orders/"):
            body = b'{"error": "not found"}'
            self.send_response(404)
        else:
            body = b"oops"
            self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        try:
            self.end_headers()
            self.wfile.write(body)
        except BrokenPipeError:  # the client gave up (the timeout test)
            pass

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_http_found_not_found_error_timeout(server):
    url = server + "/orders/{order_number}"
    assert perform(req({"url": url}, "4512")).record["status"] == "shipped"
    assert perform(req({"url": url}, "9999")) == LookupDone(ok=True, record=None)
    failed = perform(req({"url": server + "/broken/{order_number}"}, "1"))
    assert not failed.ok and failed.error == "HTTP 500"
    slow = perform(req({"url": server + "/slow/{order_number}", "timeout": 0.3}, "4512"))
    assert not slow.ok and "timeout" in slow.error


def test_http_unreachable_is_a_failure():
    done = perform(req({"url": "http://127.0.0.1:9/orders/{order_number}", "timeout": 1}, "1"))
    assert not done.ok and done.error


AUTH = {"Authorization": "Bearer ${ORDERS_API_TOKEN}", "X-Api-Key": "${ORDERS_API_TOKEN}"}


def test_http_headers_take_env_variables(server, monkeypatch):
    monkeypatch.setenv("ORDERS_API_TOKEN", TOKEN)
    SEEN.clear()
    done = perform(req({"url": server + "/auth/{order_number}", "headers": AUTH}, "4512"))
    assert done.ok and done.record["status"] == "shipped"
    path, headers = SEEN[-1]
    assert path == "/auth/4512"
    assert headers["Authorization"] == f"Bearer {TOKEN}" and headers["X-Api-Key"] == TOKEN
    # Without the header the same endpoint refuses: the credential is what got it through.
    assert perform(req({"url": server + "/auth/{order_number}"}, "4512")).error == "HTTP 401"


@pytest.mark.parametrize("env", [None, ""])
def test_http_header_with_unset_variable_fails_without_calling(server, monkeypatch, env):
    if env is None:
        monkeypatch.delenv("ORDERS_API_TOKEN", raising=False)
    else:
        monkeypatch.setenv("ORDERS_API_TOKEN", env)
    monkeypatch.setenv("OTHER_TOKEN", TOKEN)
    headers = {"X-Other": "${OTHER_TOKEN}", **AUTH}
    SEEN.clear()
    done = perform(req({"url": server + "/auth/{order_number}", "headers": headers}, "4512"))
    assert not done.ok and done.record is None
    assert "ORDERS_API_TOKEN" in done.error and TOKEN not in done.error
    assert SEEN == []  # nothing half-authenticated was sent


def test_http_header_value_with_line_break_never_reaches_the_error(server, monkeypatch):
    monkeypatch.setenv("ORDERS_API_TOKEN", TOKEN + "\r\nX-Injected: 1")
    SEEN.clear()
    done = perform(req({"url": server + "/auth/{order_number}", "headers": AUTH}, "4512"))
    assert not done.ok and "ORDERS_API_TOKEN" in done.error
    assert TOKEN not in done.error and "Injected" not in done.error
    assert SEEN == []


def test_http_headers_are_not_forwarded_to_another_origin(server, monkeypatch):
    monkeypatch.setenv("ORDERS_API_TOKEN", TOKEN)
    port = server.rsplit(":", 1)[1]
    same = f"{server}/auth/4512"
    other = f"http://localhost:{port}/orders/4512"  # same server, another origin
    for target, forwarded in ((same, True), (other, False)):
        SEEN.clear()
        url = server + "/redirect/{order_number}?to=" + target
        done = perform(req({"url": url, "headers": AUTH}, "4512"))
        assert done.ok and done.record["status"] == "shipped"
        assert [p for p, _ in SEEN] == ["/redirect/4512?to=" + target, urlsplit(target).path]
        assert ("Authorization" in SEEN[-1][1]) is forwarded
        assert ("X-Api-Key" in SEEN[-1][1]) is forwarded


def test_a_trickling_server_fails_at_the_total_deadline_never_as_not_found():
    from tests.orders_server import OrdersServer

    orders = OrdersServer()
    orders.trickle_s = 0.5  # every byte comes well within a per-read timeout
    try:
        for number in ("4512", "9999"):  # an answer that would be found, and a 404
            started = time.monotonic()
            done = perform(req({"url": orders.url + "/orders/{order_number}",
                                "timeout": 1.0}, number))
            waited = time.monotonic() - started
            if number == "9999":  # the 404's status line came at once: a real "not found"
                assert done.ok and done.record is None
                continue
            assert not done.ok and "timeout" in done.error, done
            assert waited < 10  # not the 30+ s the whole answer takes to trickle in
    finally:
        orders.close()
