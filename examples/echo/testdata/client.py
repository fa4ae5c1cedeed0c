"""A client from another ecosystem for the echo example: Python's
websockets library offers the "echo" subprotocol, checks the negotiated
protocol and that text and binary messages come back unchanged, then
closes normally. It prints one line per check and exits non-zero on the
first failure."""

import asyncio
import sys

import websockets


async def main(url):
    async with websockets.connect(url, subprotocols=["echo"]) as ws:
        assert ws.subprotocol == "echo", f"subprotocol {ws.subprotocol!r}"
        print("subprotocol echo")
        for msg in ["hello from python", "κόσμε", "", b"\x00\x01\xfe\xff", b"x" * 70000]:
            await ws.send(msg)
            got = await asyncio.wait_for(ws.recv(), 10)
            assert type(got) is type(msg), f"sent {type(msg).__name__}, got {type(got).__name__}"
            assert got == msg, f"sent {msg[:40]!r}, got {got[:40]!r}"
            print(f"echoed {type(msg).__name__} of {len(msg)}")
        await ws.close(code=1000, reason="bye")
        print(f"closed {ws.close_code}")


asyncio.run(main(sys.argv[1]))
