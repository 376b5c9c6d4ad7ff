#!/usr/bin/env python3
"""bench/stream/relay.py - a TCP relay that adds latency, for bench/stream.

    relay.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS [READY_FILE]

Every byte is held DELAY_MS in each direction, so a request and its answer
pay 2 * DELAY_MS of round-trip time, as on a long link; a new connection
pays one round trip more (the TCP handshake the client did not really make
over that link) before its first bytes reach the target. Throughput is not
serialized: each direction reads as fast as its side sends, stamps what it
read, and a separate writer releases each piece when its time has come, so
many pieces are in flight at once (the link's bandwidth is shaped
elsewhere, by tc on the veth pair). This kernel has no netem, hence this.

READY_FILE, when given, is written once the relay listens.
"""
import asyncio
import collections
import sys

PIECE = 64 * 1024


class Pipe:
    """One direction of one connection: read, stamp, hold, write."""

    def __init__(self, reader, writer, delay, not_before):
        self.reader = reader
        self.writer = writer
        self.delay = delay
        self.not_before = not_before
        self.queue = collections.deque()
        self.ready = asyncio.Event()

    async def pump_in(self):
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await self.reader.read(PIECE)
                due = max(loop.time() + self.delay, self.not_before)
                self.queue.append((due, data))
                self.ready.set()
                if not data:
                    return
        except (ConnectionError, OSError):
            self.queue.append((loop.time(), None))
            self.ready.set()

    async def pump_out(self):
        loop = asyncio.get_running_loop()
        while True:
            while not self.queue:
                self.ready.clear()
                await self.ready.wait()
            due, data = self.queue.popleft()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:  # the reading side failed: drop this side too
                self.writer.transport.abort()
                return
            if not data:
                if self.writer.can_write_eof():
                    self.writer.write_eof()
                return
            self.writer.write(data)
            await self.writer.drain()


async def serve(client_reader, client_writer, target, delay):
    loop = asyncio.get_running_loop()
    accepted = loop.time()
    try:
        up_reader, up_writer = await asyncio.open_connection(*target)
    except OSError:
        client_writer.transport.abort()
        return
    # the client's first bytes would reach the server after the handshake
    # (one round trip) and one more one-way trip
    upward = Pipe(client_reader, up_writer, delay, accepted + 3 * delay)
    downward = Pipe(up_reader, client_writer, delay, 0.0)
    tasks = [asyncio.ensure_future(t) for t in
             (upward.pump_in(), upward.pump_out(), downward.pump_in(), downward.pump_out())]
    try:
        await asyncio.gather(*tasks)
    except (ConnectionError, OSError):
        pass
    finally:
        for t in tasks:
            t.cancel()
        for w in (up_writer, client_writer):
            w.transport.abort()


async def main():
    if len(sys.argv) not in (6, 7):
        sys.exit("usage: relay.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS [READY_FILE]")
    listen = (sys.argv[1], int(sys.argv[2]))
    target = (sys.argv[3], int(sys.argv[4]))
    delay = int(sys.argv[5]) / 1000.0
    server = await asyncio.start_server(
        lambda r, w: serve(r, w, target, delay), *listen, reuse_address=True)
    if len(sys.argv) == 7:
        with open(sys.argv[6], "w") as ready:
            ready.write("%d\n" % server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
