"""The server also runs on uvloop, the optional fast event loop it uses when that happens to be installed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from chat_helpers import ChatConn, ChatServerThread

uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed: the optional fast loop is not exercised")


def test_rooms_and_messages_work_on_uvloop(chat_server_factory: Callable[..., ChatServerThread],
                                           chat_connect: Callable[..., ChatConn]) -> None:
    server = chat_server_factory(loop_factory=uvloop.new_event_loop)
    alice = chat_connect(server.port, nick="alice", room="#fast")
    bob = chat_connect(server.port, nick="bob", room="#fast")
    bob.send("hello over uvloop")
    alice.expect("[#fast] bob: hello over uvloop")
