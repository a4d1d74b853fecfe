"""A message over the stream's size limit is dropped as it arrives, never buffered whole."""

from __future__ import annotations

import struct

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from voicebot.service.websocket import OVERSIZE, _SizeLimited

HANDSHAKE = (b"GET /media HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def _server(limit: int) -> _SizeLimited:
    conn = WSConnection(ConnectionType.SERVER)
    conn.receive_data(HANDSHAKE)
    for event in conn.events():
        if isinstance(event, Request):
            conn.send(AcceptConnection())
    return _SizeLimited(conn, limit)


def _frame(payload: bytes, *, fin: bool = True, opcode: int = 1) -> bytes:
    """A client frame (masked with key 0, so the payload reads as is)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 2**16:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + b"\0\0\0\0" + payload


def test_200_mb_pass_while_at_most_the_limit_is_kept():
    limit, size = 65536, 200 * 2**20
    server = _server(limit)
    server.receive_data(bytes([0x81, 0x80 | 127]) + struct.pack(">Q", size) + b"\0\0\0\0")
    chunk, out, kept = b"x" * 65536, [], 0
    for _ in range(size // len(chunk)):
        server.receive_data(chunk)
        out += list(server.events())
        kept = max(kept, sum(len(p) for p in server._parts))
    assert kept <= limit
    assert [type(e) for e in out] == [TextMessage] and out[0].data == OVERSIZE
    # the next message on the same connection comes through whole
    server.receive_data(_frame(b'{"event": "connected"}'))
    assert [e.data for e in server.events()] == ['{"event": "connected"}']


def test_a_message_in_fragments_under_the_limit_is_passed_whole():
    server = _server(1000)
    server.receive_data(_frame(b'{"event": ', fin=False) + _frame(b'"mark"}', opcode=0))
    assert [e.data for e in server.events()] == ['{"event": "mark"}']
    server.receive_data(_frame(b"a" * 600, fin=False) + _frame(b"b" * 600, opcode=0))
    assert [e.data for e in server.events()] == [OVERSIZE]
