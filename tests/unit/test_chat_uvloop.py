"""The server also runs on uvloop, the optional fast event loop it uses when that happens to be installed."""

from __future__ import annotations

import threading

import pytest
from conftest import CHAT_WAIT, ChatConn

from chat.server import ChatServer, Config

uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed: the optional fast loop is not exercised")


def test_rooms_and_messages_work_on_uvloop() -> None:
    server = ChatServer(Config(host="127.0.0.1", port=0))
    ready = threading.Event()
    loop = uvloop.new_event_loop()

    async def main() -> None:
        await server.start()
        ready.set()
        await server.serve_until_stopped()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(CHAT_WAIT), "server did not start on uvloop"
    try:
        alice, bob = ChatConn("127.0.0.1", server.address[1]), ChatConn("127.0.0.1", server.address[1])
        for conn, nick in ((alice, "alice"), (bob, "bob")):
            conn.line()
            conn.send(f"/nick {nick}")
            conn.expect(f"* you are now {nick}")
            conn.send("/join #fast")
            conn.expect(lambda text: text.startswith("* you joined #fast"))
        bob.send("hello over uvloop")
        alice.expect("[#fast] bob: hello over uvloop")
    finally:
        loop.call_soon_threadsafe(server.stop)
        thread.join(CHAT_WAIT)
    assert not thread.is_alive(), "server did not stop"
