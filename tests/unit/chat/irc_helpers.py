"""An IRC test client on a real socket (raw lines, CR LF), and a chat server with its IRC listener on. Every
wait has a deadline (CHAT_WAIT)."""

from __future__ import annotations

from collections.abc import Callable

from chat_helpers import CHAT_WAIT, ChatConn, ChatServerThread

SERVER = "irc.test"  # the --server-name of the test servers


class IrcConn(ChatConn):
    """A raw IRC client: send lines, read the server's lines (without CR LF) with deadlines."""

    def __init__(self, port: int) -> None:
        super().__init__("127.0.0.1", port)
        self.nick = "*"

    def send(self, line: str | bytes) -> None:
        self.sock.sendall(line if isinstance(line, bytes) else (line + "\r\n").encode())

    def _text(self, raw: bytes) -> str:
        assert raw.endswith(b"\r"), f"a line without CR LF: {raw!r}"
        return raw[:-1].decode(errors="replace")

    def numeric(self, code: str, timeout: float = CHAT_WAIT) -> str:
        """The next numeric ``code`` addressed to us."""
        return self.expect(lambda text: text.startswith(f":{SERVER} {code} "), timeout)

    def until(self, want: str | Callable[[str], bool]) -> list[str]:
        """The lines up to and with the one that equals (or satisfies) ``want``."""
        lines = []
        while True:
            lines.append(self.line())
            if want(lines[-1]) if callable(want) else lines[-1] == want:
                return lines

    def barrier(self, token: str = "barrier") -> list[str]:
        """PING the server and return what came before its PONG: all it sent us before is seen."""
        self.send(f"PING {token}")
        return self.until(f":{SERVER} PONG {SERVER} :{token}")[:-1]

    def register(self, nick: str, user: str = "user", realname: str = "Real Name") -> list[str]:
        """NICK and USER, up to the end of the welcome (376 or 422); return those lines."""
        self.send(f"NICK {nick}")
        self.send(f"USER {user} 0 * :{realname}")
        self.nick = nick
        return self.until(lambda text: text.split(" ")[1:2] in (["376"], ["422"]))


def join_one_channel(channel: str, *conns: IrcConn) -> None:
    """Each of ``conns`` joins ``channel`` in turn (up to its 366); then the first one has seen the others' JOINs."""
    for conn in conns:
        conn.send(f"JOIN {channel}")
        conn.numeric("366")
    conns[0].barrier()


def irc_port(server: ChatServerThread) -> int:
    address = server.server.irc_address
    assert address is not None, "the test server has no IRC listener"
    return address[1]
