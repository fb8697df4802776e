"""The chat server runs as an enabled, hardened systemd service, listening on its LAN address."""

from __future__ import annotations

import ipaddress

from lab_hosts import LabHost

SERVICE = "chatlab-chat"


def test_chat_service_is_active_and_enabled(server: LabHost) -> None:
    service = server.host.service(SERVICE)
    assert service.is_running, f"{SERVICE} is not active on {server.name}"
    assert service.is_enabled, f"{SERVICE} is not enabled on {server.name}"


def test_chat_service_listens_on_the_lan_address(server: LabHost, chat_address: ipaddress.IPv4Address) -> None:
    socket = server.host.socket(f"tcp://{chat_address}:{server.chat_port}")
    assert socket.is_listening, f"nothing listens on {chat_address}:{server.chat_port}"


def test_chat_service_runs_as_its_own_unprivileged_user(server: LabHost) -> None:
    user = server.host.check_output(f"systemctl show -p User --value {SERVICE}")
    assert user == "chatlab"
    pid = server.host.check_output(f"systemctl show -p MainPID --value {SERVICE}")
    owner = server.host.check_output(f"ps -o user= -p {pid}")
    assert owner == "chatlab", f"server process runs as {owner!r}"
    assert server.host.check_output(f"systemctl show -p NoNewPrivileges --value {SERVICE}") == "yes"
