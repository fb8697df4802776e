"""The flood scenario's attackers, as a process of their own: ``python -m bench.flood --port P``.

CONNECTIONS sockets from one source address send FLOOD (64 KiB of blank lines, the attack of issue 12) as
fast as the kernel takes it and never read. A connection the server cuts is made again after
RECONNECT_DELAY, so that the flood lasts as long as this process (the attacker's own CPU goes mostly to
the kernel's copying; SEND_BUFFER keeps that from starving the load generator on the same CPU). On
SIGTERM it prints one JSON line: bytes sent, connections made, connections the server cut.
"""

from __future__ import annotations

import argparse
import errno
import json
import select
import signal
import socket
import sys
import time

FLOOD = b"\n" * 65536
RECONNECT_DELAY = 0.5  # seconds before a cut connection is made again
SEND_BUFFER = 128 * 1024  # bytes the kernel holds for each flooding socket (all it loses when cut)


class Flooder:
    def __init__(self, address: tuple[str, int], source: str, connections: int) -> None:
        self.address = address
        self.source = source
        self.connections = connections
        self.poll = select.epoll()
        self.socks: dict[int, socket.socket] = {}
        self.reopen_at: list[float] = []  # when each cut connection is made again
        self.sent = 0
        self.made = 0
        self.cut = 0
        self.running = True

    def _open(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        sock.bind((self.source, 0))
        result = sock.connect_ex(self.address)
        if result not in (0, errno.EINPROGRESS):
            sock.close()
            self.reopen_at.append(time.monotonic() + RECONNECT_DELAY)
            return
        self.socks[sock.fileno()] = sock
        self.poll.register(sock.fileno(), select.EPOLLOUT)
        self.made += 1

    def _lost(self, fd: int) -> None:
        sock = self.socks.pop(fd)
        self.poll.unregister(fd)
        sock.close()
        self.cut += 1
        self.reopen_at.append(time.monotonic() + RECONNECT_DELAY)

    def run(self) -> None:
        for _ in range(self.connections):
            self._open()
        while self.running:
            now = time.monotonic()
            due = [at for at in self.reopen_at if at <= now]
            self.reopen_at = [at for at in self.reopen_at if at > now]
            for _ in due:
                self._open()
            for fd, mask in self.poll.poll(0.05):
                if mask & (select.EPOLLERR | select.EPOLLHUP):
                    self._lost(fd)
                    continue
                try:
                    self.sent += self.socks[fd].send(FLOOD)
                except BlockingIOError:
                    pass
                except OSError:  # reset, or the connection was refused
                    self._lost(fd)

    def stop(self, *_: object) -> None:
        self.running = False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.flood", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--source", default="127.0.0.1", help="source address of every connection")
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args(argv)
    flooder = Flooder((args.host, args.port), args.source, args.connections)
    signal.signal(signal.SIGTERM, flooder.stop)
    flooder.run()
    print(json.dumps({"flood_bytes": flooder.sent, "flood_connections": flooder.made,
                      "flood_cut": flooder.cut}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
