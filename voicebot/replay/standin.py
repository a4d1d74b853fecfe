"""A Twilio stand-in: plays Twilio's (and a caller's) part against a running service.

What a caller does and when (the timeline, marks, clear, turn order and turn gaps) is
CallerSimulator (on TwilioSide); this module is only its transport, doing what Twilio's cloud
does: post the signed incoming-call webhook, read the TwiML, open the <Stream> URL with a
signed WebSocket handshake, pace the simulator's messages in real time (or `speed` times
faster), request the <Connect> action URL when the service closes the stream, and post the
call-status callback. The prompts and recognised turns are read back from the service's
`GET /calls/<CallSid>` (Twilio's protocol does not carry them), so reports show what the
service itself recorded.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import requests
import websocket
from twilio.request_validator import RequestValidator

from voicebot.errors import VoicebotError
from voicebot.httpclient import reason, retrying_session
from voicebot.records.transcript import CallTranscript
from voicebot.replay.caller import CallerSimulator, CallerTurn

SIGNATURE_HEADER = "X-Twilio-Signature"
# A service that is still starting (refused) or behind a proxy that answers 502/503/504 is
# tried again; a webhook POST is never sent twice once it reached the service.
CONNECT_RETRIES = 2
STATUS_RETRIES = 2
RETRY_BACKOFF_S = 0.2


class StandinError(VoicebotError):
    """The service did not behave as Twilio expects (refused, bad TwiML, unreachable)."""


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class StandinResult:
    call_sid: str
    twiml: str
    stream_url: str
    action_url: str | None
    closed_by_service: bool
    twiml_after: str | None
    transcript: CallTranscript | None
    sim: CallerSimulator = field(repr=False)
    wall_s: float = 0.0
    call_s: float = 0.0  # stream time when the stream ended
    record_error: str | None = None
    webhook_s: float = 0.0  # how long the service took to answer the incoming-call webhook

    @property
    def streamed(self) -> bool:
        """False when the webhook answered without a stream (e.g. straight to a queue)."""
        return bool(self.stream_url)

    @property
    def outcome(self) -> str | None:
        return self.transcript.outcome if self.transcript else None

    def to_json(self) -> dict[str, Any]:
        t = self.transcript
        return {
            "call_sid": self.call_sid,
            "outcome": t.outcome if t else None,
            "reason": t.reason if t else None,
            "queue": t.queue if t else None,
            "prompts": [p.text for p in t.prompts] if t else [],
            "turns": [{"node": r.node, "heard": r.heard, "confidence": r.confidence}
                      for r in t.turns] if t else [],
            "twiml_after": self.twiml_after,
            "caller": self.sim.summary(),
            "record_error": self.record_error,
        }


class TwilioStandin:
    """One stand-in call per `run`; safe to use from several threads (one run per thread)."""

    def __init__(self, webhook_url: str, *, auth_token: str | None, api_token: str | None,
                 from_number: str = "+15550100123", to_number: str = "+15550100999",
                 speed: float = 1.0, max_call_s: float = 90.0, http_timeout: float = 30.0,
                 post_status: bool = True) -> None:
        if speed <= 0:
            raise StandinError("--speed must be more than 0")
        self.webhook_url = webhook_url
        self.auth_token = auth_token
        self.api_token = api_token
        self.from_number = from_number
        self.to_number = to_number
        self.speed = speed
        self.max_call_s = max_call_s
        self.http_timeout = http_timeout
        self.post_status = post_status
        self.account_sid = new_sid("AC")
        self._validator = RequestValidator(auth_token) if auth_token else None
        self._local = threading.local()  # a requests session per thread (runs in parallel)

    # ------------------------------------------------------------------ HTTP like Twilio

    @property
    def base_url(self) -> str:
        """The service's base URL: the webhook URL without its final /voice."""
        parts = urllib.parse.urlsplit(self.webhook_url)
        path = parts.path[: -len("/voice")] if parts.path.endswith("/voice") else ""
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))

    def sign(self, url: str, params: dict[str, str]) -> dict[str, str]:
        if self._validator is None:
            return {}
        return {SIGNATURE_HEADER: self._validator.compute_signature(url, params)}

    def _http(self) -> requests.Session:
        http = getattr(self._local, "session", None)
        if http is None:
            http = self._local.session = retrying_session(
                connect=CONNECT_RETRIES, status=STATUS_RETRIES, backoff_s=RETRY_BACKOFF_S,
                user_agent="voicebot-standin")
        return http

    def post(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        """POST form fields signed as Twilio signs them; returns (status, body)."""
        try:
            resp = self._http().post(url, data=params, headers=self.sign(url, params),
                                     timeout=self.http_timeout)
        except requests.RequestException as exc:
            raise StandinError(f"cannot reach {url}: {reason(exc)}") from exc
        return resp.status_code, resp.content.decode("utf-8", errors="replace")

    def call_params(self, call_sid: str, status: str) -> dict[str, str]:
        """The standard request parameters Twilio sends with every voice webhook."""
        return {
            "CallSid": call_sid, "AccountSid": self.account_sid, "From": self.from_number,
            "To": self.to_number, "Caller": self.from_number, "Called": self.to_number,
            "CallStatus": status, "Direction": "inbound", "ApiVersion": "2010-04-01",
        }

    def fetch_transcript(self, call_sid: str) -> CallTranscript:
        url = f"{self.base_url}/calls/{urllib.parse.quote(call_sid)}"
        headers = {"Authorization": f"Bearer {self.api_token}"} if self.api_token else {}
        try:
            resp = self._http().get(url, headers=headers, timeout=self.http_timeout)
            if resp.status_code >= 400:
                hint = " (give --token or set VOICEBOT_API_TOKEN)" if resp.status_code == 403 \
                    else ""
                raise StandinError(f"GET {url} answered {resp.status_code}{hint}")
            data = resp.json()
        except (requests.RequestException, ValueError) as exc:
            raise StandinError(f"cannot read the call record at {url}: {reason(exc)}") from exc
        return CallTranscript.from_dict(data)

    # ------------------------------------------------------------------ one call

    def run(self, turns: list[CallerTurn], *, call_sid: str | None = None,
            inject: list[tuple[float, str]] | None = None) -> StandinResult:
        """Place one call. `inject`: raw texts sent at stream times (< 0: before `start`)."""
        call_sid = call_sid or new_sid("CA")
        started = time.monotonic()
        status, body = self.post(self.webhook_url, self.call_params(call_sid, "ringing"))
        webhook_s = time.monotonic() - started
        if status != 200:
            raise StandinError(f"the webhook {self.webhook_url} answered HTTP {status}"
                               + (" (is the auth token the service's?)" if status == 403
                                  else ""))
        action_url, stream_url, parameters = parse_connect_twiml(body)
        sim = CallerSimulator(list(turns), call_sid=call_sid, stream_sid=new_sid("MZ"),
                              account_sid=self.account_sid, custom_parameters=parameters,
                              from_number=self.from_number, max_call_s=self.max_call_s)
        closed_by_service, call_s = (self._stream(stream_url, sim, sorted(inject or []))
                                     if stream_url else (False, 0.0))
        twiml_after = None
        if closed_by_service and action_url:
            params = self.call_params(call_sid, "in-progress")
            status, twiml_after = self.post(action_url, params)
            if status != 200:
                raise StandinError(f"the <Connect> action {action_url} answered HTTP {status}")
        if self.post_status:
            self.post(f"{self.base_url}/status", self.call_params(call_sid, "completed"))
        transcript, record_error = None, None
        try:
            transcript = self.fetch_transcript(call_sid)
        except StandinError as exc:
            record_error = str(exc)
        return StandinResult(call_sid=call_sid, twiml=body, stream_url=stream_url,
                             action_url=action_url, closed_by_service=closed_by_service,
                             twiml_after=twiml_after, transcript=transcript, sim=sim,
                             wall_s=time.monotonic() - started, call_s=call_s,
                             record_error=record_error, webhook_s=webhook_s)

    def _stream(self, url: str, sim: CallerSimulator,
                inject: list[tuple[float, str]]) -> tuple[bool, float]:
        """Drive the media stream: (closed by the service (the normal end), stream time)."""
        try:
            ws = websocket.create_connection(url, timeout=self.http_timeout,
                                             header=self.sign(url, {}))
        except websocket.WebSocketBadStatusException as exc:
            raise StandinError(f"the media stream {url} refused the handshake: "
                               f"HTTP {exc.status_code}") from exc
        except (OSError, websocket.WebSocketException) as exc:
            raise StandinError(f"cannot open the media stream {url}: {exc}") from exc
        clock = _StreamClock(self.speed)
        try:
            for _, text in [i for i in inject if i[0] < 0]:
                ws.send(text)
            for text in sim.opening():
                ws.send(text)
            clock.restart()
            return self._pump(ws, sim, [i for i in inject if i[0] >= 0], clock)
        except (websocket.WebSocketConnectionClosedException, BrokenPipeError,
                ConnectionResetError):
            return True, clock()
        finally:
            with contextlib.suppress(Exception):  # closing a dead socket
                ws.close()

    def _pump(self, ws: websocket.WebSocket, sim: CallerSimulator,
              pending: list[tuple[float, str]], clock: _StreamClock) -> tuple[bool, float]:
        """Send what is due, wait for the service until the next thing is, until one side
        ends the call."""
        while True:
            now = clock()
            ws.settimeout(self.http_timeout)  # sending may wait (e.g. behind a large text)
            for text in sim.poll(now):
                ws.send(text)
            while pending and pending[0][0] <= now:
                ws.send(pending.pop(0)[1])
            if sim.done:
                for text in sim.closing(now):
                    ws.send(text)
                return False, now
            due = min([sim.next_due(), *(at for at, _ in pending[:1])])
            ws.settimeout(max(0.001, (due - clock()) / self.speed))
            message = _receive(ws)
            if message is _CLOSED:
                return True, clock()
            if isinstance(message, str):
                sim.on_message(message, clock())


class _StreamClock:
    """Stream time: seconds since `start`, times the stand-in's speed."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.restart()

    def restart(self) -> None:
        self._t0 = time.monotonic()

    def __call__(self) -> float:
        return (time.monotonic() - self._t0) * self.speed


_CLOSED = object()


def _receive(ws: websocket.WebSocket) -> str | object | None:
    """The service's next text message; None when none came in time (or not text);
    _CLOSED when the service closed the stream."""
    try:
        opcode, data = ws.recv_data(control_frame=True)
    except websocket.WebSocketTimeoutException:
        return None
    except (websocket.WebSocketConnectionClosedException, OSError):
        return _CLOSED
    if opcode == websocket.ABNF.OPCODE_CLOSE:
        return _CLOSED
    if opcode == websocket.ABNF.OPCODE_TEXT:
        return data.decode("utf-8", errors="replace")
    return None


def parse_connect_twiml(document: str) -> tuple[str | None, str, dict[str, str]]:
    """(action URL, stream URL, custom parameters) from the webhook's <Connect><Stream>;
    ("", "", {}) for TwiML that takes the call without a stream (<Say>, <Enqueue>...)."""
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise StandinError(f"the webhook did not answer TwiML: {exc}") from exc
    if root.tag != "Response":
        raise StandinError(f"the webhook answered <{root.tag}>, not TwiML's <Response>")
    connect = root.find("Connect")
    stream = connect.find("Stream") if connect is not None else None
    if connect is None and len(root):
        return "", "", {}
    if stream is None or not stream.get("url"):
        raise StandinError("the webhook's TwiML has no <Connect><Stream url=...>")
    parameters = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    return connect.get("action"), stream.get("url", ""), parameters
