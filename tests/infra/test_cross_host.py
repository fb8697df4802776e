"""Chat across hosts: a message from one client host reaches a client on another host through the server,
and a room vanishes from /rooms once its last member has left."""

from __future__ import annotations

from chat_session import BackgroundSession, run_session, unique
from lab_hosts import LabHost
from outputs import listed, room_names


def rooms_answers(output: str) -> list[list[str]]:
    """The /rooms answers in a session's output, each as its room names (a split answer is one)."""
    return [room_names(answer) for answer in listed(output, "rooms")]


def receiver_and_sender(server: LabHost, clients: list[LabHost]) -> tuple[LabHost, LabHost]:
    """Two different hosts: client1 sends; client2 receives, or the server host when there is one client."""
    return (clients[1] if len(clients) > 1 else server), clients[0]


def test_message_from_one_host_reaches_a_client_on_another(server: LabHost, clients: list[LabHost]) -> None:
    receiver, sender = receiver_and_sender(server, clients)
    room, listener, talker = unique("#xhost"), unique("rx"), unique("tx")
    session = BackgroundSession(receiver.host, [f"/nick {listener}", f"/join {room}"])
    try:
        assert f"you joined {room}" in session.wait_for(f"you joined {room}"), f"{listener} never joined {room}"
        text = f"hello from {sender.name} to {receiver.name}"
        run_session(sender.host, [f"/nick {talker}", f"/join {room}", text])
        received = session.wait_for(f"[{room}] {talker}: {text}")
        assert f"[{room}] {talker}: {text}" in received, f"{receiver.name} got:\n{received}"
    finally:
        session.end()


def test_room_vanishes_after_its_last_member_leaves(server: LabHost, clients: list[LabHost]) -> None:
    observer, member = receiver_and_sender(server, clients)
    room = unique("#gone")
    session = BackgroundSession(member.host, [f"/join {room}"])
    try:
        assert f"you joined {room}" in session.wait_for(f"you joined {room}"), f"{member.name} never joined {room}"
        seen = rooms_answers(run_session(observer.host, ["/rooms"]))
        assert seen and room in seen[0], f"{room} not listed while its member is in it: {seen}"
    finally:
        assert "* bye" in session.end(), f"{member.name}'s session did not quit"
    after = rooms_answers(run_session(observer.host, ["/rooms"]))
    assert after and room not in after[0], f"{room} still listed after its last member left: {after}"


def test_leave_removes_the_room_within_one_session(clients: list[LabHost]) -> None:
    room = unique("#solo")
    answers = rooms_answers(run_session(clients[0].host, [f"/join {room}", "/rooms", "/leave", "/rooms"]))
    assert len(answers) == 2, answers
    assert room in answers[0] and room not in answers[1], answers
