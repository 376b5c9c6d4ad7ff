#!/usr/bin/env python3
"""bench/stream/timed.py - run a command, time its first output and its end.

    timed.py [--before SECONDS] CMD [ARGS...]

Prints one line on stdout: `first=S total=S status=N` (seconds since the
command started, as decimals; first= is the time of the first byte the
command wrote on its standard output, or of its end if it wrote none), then
the command's own standard output, unchanged. --before adds SECONDS already
spent (e.g. a download) to both figures. The command's stderr passes through.
"""
import os
import subprocess
import sys
import time


def main():
    args = sys.argv[1:]
    before = 0.0
    if args[:1] == ["--before"]:
        before = float(args[1])
        args = args[2:]
    if not args:
        sys.exit("usage: timed.py [--before SECONDS] CMD [ARGS...]")
    start = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    first = None
    out = []
    while True:
        data = os.read(proc.stdout.fileno(), 65536)
        if not data:
            break
        if first is None:
            first = time.monotonic() - start
        out.append(data)
    status = proc.wait()
    total = time.monotonic() - start
    if first is None:
        first = total
    sys.stdout.write("first=%.4f total=%.4f status=%d\n" % (first + before, total + before, status))
    sys.stdout.flush()
    sys.stdout.buffer.write(b"".join(out))


if __name__ == "__main__":
    main()
