"""A minimal raw HTTP/2 (h2c, prior knowledge) client on the `h2` package, for the cases a
gRPC library will not produce: garbage prefixes, wrong content-types, stream-reset bursts,
and a deadline the client itself does not enforce."""
from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions


def grpc_frame(message: bytes, compressed: bool = False) -> bytes:
    """One length-prefixed gRPC message."""
    return struct.pack(">BI", 1 if compressed else 0, len(message)) + message


@dataclass
class StreamResult:
    stream_id: int
    sent_at: float = 0.0
    headers: dict = field(default_factory=dict)
    trailers: dict = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)
    ended: bool = False
    reset_code: int | None = None
    finished_at: float | None = None

    @property
    def done(self) -> bool:
        return self.ended or self.reset_code is not None

    @property
    def http_status(self) -> int | None:
        s = self.headers.get(":status")
        return int(s) if s is not None else None

    @property
    def grpc_status(self) -> int | None:
        """From the trailers, or from the headers of a trailers-only response."""
        s = self.trailers.get("grpc-status", self.headers.get("grpc-status"))
        return int(s) if s is not None else None

    @property
    def grpc_message(self) -> str | None:
        return self.trailers.get("grpc-message", self.headers.get("grpc-message"))

    @property
    def elapsed(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.sent_at

    def __str__(self):
        return (f"stream {self.stream_id}: headers={self.headers} trailers={self.trailers} "
                f"data={len(self.data)} bytes reset={self.reset_code} ended={self.ended}")


class RawH2:
    def __init__(self, address: str, timeout: float = 10.0):
        host, port = address.rsplit(":", 1)
        self.address = address
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.streams: dict[int, StreamResult] = {}
        self.goaway: h2.events.ConnectionTerminated | None = None
        self.closed = False
        self.flush()

    # -- sending
    def flush(self) -> None:
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def headers(self, path: str, content_type: str | None = "application/grpc",
                extra: list[tuple[str, str]] = (), end_stream: bool = False) -> int:
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", "POST"), (":scheme", "http"), (":path", path),
                (":authority", self.address)]
        if content_type is not None:
            hdrs.append(("content-type", content_type))
        hdrs.append(("te", "trailers"))
        hdrs.extend(extra)
        self.conn.send_headers(sid, hdrs, end_stream=end_stream)
        self.streams[sid] = StreamResult(sid, sent_at=time.monotonic())
        return sid

    def data(self, sid: int, body: bytes, end_stream: bool = True) -> None:
        """Sends body within flow control (reading while the window is closed)."""
        view = memoryview(body)
        while True:
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if len(view) <= window:
                self.conn.send_data(sid, bytes(view), end_stream=end_stream)
                self.flush()
                return
            if window > 0:
                self.conn.send_data(sid, bytes(view[:window]))
                view = view[window:]
                self.flush()
            else:
                self.flush()
                self._read_once(5.0)
                if self.closed or self.streams[sid].done:
                    return

    def request(self, path: str, body: bytes = b"", content_type: str | None = "application/grpc",
                extra: list[tuple[str, str]] = ()) -> int:
        sid = self.headers(path, content_type, extra, end_stream=False)
        self.data(sid, body, end_stream=True)
        return sid

    def reset(self, sid: int, code=h2.errors.ErrorCodes.CANCEL) -> None:
        self.conn.reset_stream(sid, error_code=code)

    # -- receiving
    def _read_once(self, timeout: float) -> None:
        if self.closed:
            return
        self.sock.settimeout(max(timeout, 0.001))
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            return
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.closed = True
            return
        now = time.monotonic()
        try:
            events = self.conn.receive_data(chunk)
        except h2.exceptions.ProtocolError:
            self.closed = True
            return
        for ev in events:
            sid = getattr(ev, "stream_id", None)
            st = self.streams.get(sid) if sid else None
            if isinstance(ev, h2.events.ResponseReceived) and st:
                st.headers.update(dict(ev.headers))
            elif isinstance(ev, h2.events.TrailersReceived) and st:
                st.trailers.update(dict(ev.headers))
            elif isinstance(ev, h2.events.DataReceived):
                if st:
                    st.data.extend(ev.data)
                if ev.flow_controlled_length:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded) and st:
                st.ended, st.finished_at = True, now
            elif isinstance(ev, h2.events.StreamReset) and st:
                st.reset_code, st.finished_at = int(ev.error_code), now
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = ev
        try:
            self.flush()
        except OSError:
            self.closed = True

    def wait(self, sid: int, timeout: float = 10.0) -> StreamResult:
        """Reads until stream `sid` has ended or was reset; raises TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        st = self.streams[sid]
        while not st.done:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no end of stream within {timeout} s: {st}")
            if self.closed:
                raise ConnectionError(f"connection closed before the stream ended: {st} goaway={self.goaway}")
            self._read_once(min(left, 0.5))
        return st

    def pump(self, duration: float) -> None:
        """Reads whatever arrives for `duration` seconds (or until the peer closes)."""
        deadline = time.monotonic() + duration
        while not self.closed and time.monotonic() < deadline:
            self._read_once(min(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        try:
            if not self.closed:
                self.conn.close_connection()
                self.flush()
        except Exception:
            pass
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
