#!/usr/bin/env python3
"""Opens N idle HTTP/2 (h2c, prior knowledge) client connections and holds them.

Each connection sends the client preface and an empty SETTINGS frame, waits for the server's
SETTINGS, acknowledges it, and then idles. Standard library only.

Protocol with the parent (bench.py), line based:
  stdout "open K FAILED"   once every connection has been tried (K open, FAILED failed)
  stdin  "check"           -> stdout "alive K": connections the server has not closed
  stdin  "quit" or EOF     -> closes everything and exits

usage: idle_clients.py HOST PORT N
"""
from __future__ import annotations

import asyncio
import resource
import struct
import sys

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = struct.pack(">I", 0)[1:] + bytes([0x4, 0x0]) + struct.pack(">I", 0)  # len 0, type 4
SETTINGS_ACK = struct.pack(">I", 0)[1:] + bytes([0x4, 0x1]) + struct.pack(">I", 0)
BATCH = 250          # connections opened concurrently
HANDSHAKE_TIMEOUT = 10.0


def raise_nofile(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n + 256))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def open_one(host: str, port: int):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(PREFACE + SETTINGS)
        await writer.drain()
        # Read frames until the server's (non-ACK) SETTINGS arrives, then ACK it.
        for _ in range(16):  # bounded: a server sends SETTINGS first
            header = await reader.readexactly(9)
            length = int.from_bytes(header[:3], "big")
            ftype, flags = header[3], header[4]
            if length:
                await reader.readexactly(length)
            if ftype == 0x4 and not flags & 0x1:
                writer.write(SETTINGS_ACK)
                await writer.drain()
                return reader, writer
        raise RuntimeError("no SETTINGS from server")
    except BaseException:
        writer.close()
        raise


async def main() -> int:
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    raise_nofile(n)
    conns = []
    failed = 0
    first_error = None
    for start in range(0, n, BATCH):
        count = min(BATCH, n - start)
        results = await asyncio.gather(
            *(asyncio.wait_for(open_one(host, port), HANDSHAKE_TIMEOUT) for _ in range(count)),
            return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                failed += 1
                first_error = first_error or repr(r)
            else:
                conns.append(r)
    print(f"open {len(conns)} {failed}", flush=True)
    if first_error:
        print(f"first error: {first_error}", file=sys.stderr, flush=True)

    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        cmd = line.strip()
        if cmd == "check":
            # A plain transport closes itself on EOF or error from the peer.
            await asyncio.sleep(0.2)
            alive = sum(1 for _, writer in conns if not writer.transport.is_closing())
            print(f"alive {alive}", flush=True)
        else:  # "quit" or EOF
            break
    for _, writer in conns:
        writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
