"""ARP probes (lab.plumbing.arp_probe): the frames, pure; and a real probe on a veth into a namespace of the test's own,
where the probed address is taken or free (the probe's broadcasts stay on that veth)."""

from __future__ import annotations

import ipaddress

from netns_helpers import Netns

from lab.plumbing.arp_probe import claimant, holder, interface_mac, mac_text, probe_frame

OURS, THEIRS = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
TAKEN, FREE = ipaddress.IPv4Address("192.168.182.20"), ipaddress.IPv4Address("192.168.182.21")


def _reply(sender_mac: bytes, sender: ipaddress.IPv4Address) -> bytes:
    """What a holder answers to a probe: an ARP reply from it to us."""
    frame = bytearray(probe_frame(sender_mac, sender))
    frame[0:6] = OURS
    frame[20:22] = b"\x00\x02"  # op: reply
    frame[28:32] = sender.packed  # spa: the address it holds
    frame[32:38] = OURS
    return bytes(frame)


def test_a_probe_asks_for_the_address_from_0_0_0_0_to_everyone() -> None:
    frame = probe_frame(OURS, TAKEN)
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == OURS and frame[12:14] == b"\x08\x06"
    assert frame[28:32] == b"\0\0\0\0" and frame[38:42] == TAKEN.packed


def test_a_reply_or_another_probe_for_the_address_claims_it_our_own_frames_do_not() -> None:
    assert claimant(_reply(THEIRS, TAKEN), TAKEN, OURS) == THEIRS
    assert claimant(probe_frame(THEIRS, TAKEN), TAKEN, OURS) == THEIRS  # someone probing for it at the same time
    assert claimant(probe_frame(OURS, TAKEN), TAKEN, OURS) is None
    assert claimant(_reply(THEIRS, FREE), TAKEN, OURS) is None
    assert claimant(b"\x00" * 20, TAKEN, OURS) is None


def test_a_real_probe_finds_the_holder_and_not_a_free_address(netns: Netns) -> None:
    netns.run("ip", "addr", "add", f"{TAKEN}/24", "dev", netns.iface)
    netns.run("ip", "link", "set", netns.iface, "up")
    inside = mac_text(bytes.fromhex(netns.run("cat", f"/sys/class/net/{netns.iface}/address").stdout.strip()
                                    .replace(":", "")))
    assert inside != mac_text(interface_mac(netns.host_end))
    assert holder(netns.host_end, TAKEN) == inside
    assert holder(netns.host_end, FREE, count=1, wait_s=0.3) is None
