"""The machine's floor under the steady scenario: what one bare ``send()`` over loopback costs, in the same
pattern as the chat server's steady traffic, with no chat logic at all.

Every 1/RATE s a line goes to MEMBERS - 1 consecutive sockets (one room's fan-out), from a process pinned to
the server's CPU, while this process (pinned to the load generator's CPU) drains the other ends with epoll.
The sender's CPU time per send tells how much of one core the steady scenario's deliveries cost in the kernel
before the server does anything else: near or above 100 %, no single-core server can keep latency low there.
"""

from __future__ import annotations

import os
import select
import socket
import time
from dataclasses import dataclass

LINE = b"[#steady42] guest12345: M1234567890123456789.\n"  # the size of a steady delivery
CONNECT_BATCH = 500  # pairs opened before their connections are accepted (within the listen backlog)


@dataclass
class Floor:
    sockets: int
    sends: int
    us_per_send: float  # the sender's CPU time per send() (user + system)
    core_share: float  # that cost at the scenario's delivery rate, as a share of one core


def _socket_pairs(count: int) -> tuple[list[socket.socket], list[socket.socket]]:
    """``count`` connected TCP pairs over loopback: (sending ends, receiving ends), both with TCP_NODELAY."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(CONNECT_BATCH)
    senders: list[socket.socket] = []
    receivers: list[socket.socket] = []
    try:
        while len(receivers) < count:
            batch = [socket.create_connection(listener.getsockname())
                     for _ in range(min(CONNECT_BATCH, count - len(receivers)))]
            for receiver in batch:
                sender, _ = listener.accept()
                for sock in (sender, receiver):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sock.setblocking(False)
                senders.append(sender)
                receivers.append(receiver)
    finally:
        listener.close()
    return senders, receivers


def _send_pattern(senders: list[socket.socket], rate: float, members: int, seconds: float) -> tuple[float, int]:
    """The steady fan-out at ``rate`` lines/s for ``seconds``; return (CPU seconds spent, sends made)."""
    fanout = members - 1
    lines = int(rate * seconds)
    count = len(senders)
    cpu_before = time.process_time()
    start = time.perf_counter()
    for number in range(lines):
        first = number * fanout
        for offset in range(fanout):
            senders[(first + offset) % count].send(LINE)
        pause = start + (number + 1) / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    return time.process_time() - cpu_before, lines * fanout


def measure(sockets: int, rate: float, members: int, sender_cpu: int | None, seconds: float = 3.0) -> Floor:
    """Run the pattern from a child process (on ``sender_cpu``) while this process drains the receiving ends."""
    senders, receivers = _socket_pairs(sockets)
    result_read, result_write = os.pipe()
    child = os.fork()
    if child == 0:  # the sender
        code = 0
        try:
            os.close(result_read)
            if sender_cpu is not None:
                os.sched_setaffinity(0, {sender_cpu})
            cpu, sends = _send_pattern(senders, rate, members, seconds)
            os.write(result_write, f"{cpu} {sends}".encode())
        except BaseException:  # a forked child must never return into the caller's code
            code = 1
        finally:
            os._exit(code)
    os.close(result_write)
    poller = select.epoll()
    by_fd = {sock.fileno(): sock for sock in receivers}
    try:
        for fd in by_fd:
            poller.register(fd, select.EPOLLIN)
        poller.register(result_read, select.EPOLLIN)
        while True:
            events = poller.poll(1.0)
            if any(fd == result_read for fd, _ in events):
                break
            for fd, _ in events:
                by_fd[fd].recv(65536)
        report = os.read(result_read, 100).decode().split()
        _, status = os.waitpid(child, 0)
        if status != 0 or len(report) != 2:
            raise RuntimeError("the send-floor sender failed")
    finally:
        poller.close()
        os.close(result_read)
        for sock in senders + receivers:
            sock.close()
    cpu, sends = float(report[0]), int(report[1])
    us_per_send = cpu / sends * 1e6
    return Floor(sockets, sends, us_per_send, us_per_send * rate * (members - 1) / 1e6)
