"""`lab status`'s verdict (lab.driver.healthy) and its exit code: 0 only when every host runs (or is an external
one) and answers SSH, as `lab status --help` says. The hosts' live states are given as values: no lab runs here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lab import cli, driver
from lab.config import configure, up_request


def host(name: str, state: str = "running", ssh: bool | None = True, chat: bool | None = None) -> dict[str, Any]:
    return {"name": name, "role": "client", "state": state, "ssh": ssh, "chat_service": chat, "management": None,
            "interfaces": []}


@pytest.mark.parametrize(("hosts", "healthy"), [
    ([host("server"), host("client1")], True),
    ([host("server"), host("real1", state="external")], True),
    ([host("server"), host("client1", ssh=False)], False),  # running, SSH not answering
    ([host("server"), host("client1", ssh=None)], False),  # never asked: no connection known
    ([host("server"), host("client1", state="absent", ssh=None)], False),
    ([host("server"), host("client1", state="stopped", ssh=None)], False),
    ([host("real1", state="external", ssh=False)], False),
])
def test_a_lab_is_healthy_when_every_host_runs_and_answers_ssh(hosts: list[dict[str, Any]], healthy: bool) -> None:
    assert driver.healthy(hosts) is healthy


@pytest.mark.parametrize(("hosts", "status", "state"), [
    ([host("server"), host("client1")], 0, "up"),
    ([host("server"), host("client1", ssh=False)], 1, "degraded"),
])
def test_lab_status_exits_1_when_the_lab_is_degraded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str], hosts: list[dict[str, Any]],
                                                     status: int, state: str) -> None:
    config = configure(up_request({"LAB_NAME": "st"}, root=tmp_path), "nspawn")
    monkeypatch.setattr(cli, "existing_lab", lambda: ("st", config))
    monkeypatch.setattr(driver, "host_status", lambda _: hosts)
    assert cli.main(["status", "--json"]) == status
    assert json.loads(capsys.readouterr().out)["state"] == state
    assert cli.main(["status"]) == status
    assert "ssh not answering" in capsys.readouterr().out if status else True


def test_lab_status_of_a_lab_that_is_down_exits_1(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "existing_lab", lambda: ("st", None))
    assert cli.main(["status"]) == 1
    assert capsys.readouterr().out == "lab 'st': down\n"
