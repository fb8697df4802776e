"""ARP probes (RFC 5227, what `arping -D` sends): whether an IPv4 address already answers on a LAN, so that the lab
refuses a planned address that another machine holds instead of taking it twice (docs/real-networks.md).

A probe is an ARP request for the address with sender address 0.0.0.0 (it teaches no one's ARP cache anything),
broadcast PROBE_COUNT times on the interface; any ARP packet whose sender address is the probed one (a reply, or
that machine's own probe or announcement) means the address is taken. Frame building and reading are pure; `holder`
does the I/O on a raw packet socket (root, Linux), no arping needed.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import time
from pathlib import Path

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARP_REQUEST, ARP_REPLY = 1, 2
BROADCAST = b"\xff" * 6
PROBE_COUNT = 3  # RFC 5227 PROBE_NUM
PROBE_INTERVAL_S = 0.2  # between probes (the RFC's 1-2 s is for hosts; a lab's own LAN answers in microseconds)
ANSWER_WAIT_S = 0.5  # after the last probe
_ARP = struct.Struct("!HHBBH6s4s6s4s")  # htype ptype hlen plen op sha spa tha tpa
_ETHERNET = struct.Struct("!6s6sH")


def mac_text(mac: bytes) -> str:
    return ":".join(f"{byte:02x}" for byte in mac)


def probe_frame(source_mac: bytes, address: ipaddress.IPv4Address) -> bytes:
    """The Ethernet frame of one probe for `address` from an interface whose MAC is `source_mac`."""
    arp = _ARP.pack(1, ETH_P_IP, 6, 4, ARP_REQUEST, source_mac, b"\0" * 4, b"\0" * 6, address.packed)
    return _ETHERNET.pack(BROADCAST, source_mac, ETH_P_ARP) + arp


def claimant(frame: bytes, address: ipaddress.IPv4Address, own_mac: bytes) -> bytes | None:
    """The MAC of the machine that `frame` shows holding (or probing for) `address`; None for any other frame."""
    if len(frame) < _ETHERNET.size + _ARP.size:
        return None
    _, _, ethertype = _ETHERNET.unpack_from(frame)
    if ethertype != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op, sha, spa, _, tpa = _ARP.unpack_from(frame, _ETHERNET.size)
    if (htype, ptype, hlen, plen) != (1, ETH_P_IP, 6, 4) or op not in (ARP_REQUEST, ARP_REPLY) or sha == own_mac:
        return None
    if spa == address.packed:  # a reply, or its holder announcing it
        return sha
    if op == ARP_REQUEST and spa == b"\0" * 4 and tpa == address.packed:  # another machine probing for it now
        return sha
    return None


def interface_mac(interface: str) -> bytes:
    return bytes.fromhex((Path("/sys/class/net") / interface / "address").read_text().strip().replace(":", ""))


def holder(interface: str, address: ipaddress.IPv4Address, count: int = PROBE_COUNT,
           interval_s: float = PROBE_INTERVAL_S, wait_s: float = ANSWER_WAIT_S) -> str | None:
    """The MAC (aa:bb:…) of a machine on `interface`'s LAN that answers for `address`, or None when none does.

    OSError when the interface does not exist or is down, or without CAP_NET_RAW."""
    own_mac = interface_mac(interface)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as sock:
        sock.bind((interface, ETH_P_ARP))
        frame = probe_frame(own_mac, address)
        deadline = time.monotonic()
        for sent in range(count):
            sock.send(frame)
            deadline = time.monotonic() + (interval_s if sent < count - 1 else wait_s)
            while (left := deadline - time.monotonic()) > 0:
                readable, _, _ = select.select([sock], [], [], left)
                if not readable:
                    break
                found = claimant(sock.recv(2048), address, own_mac)
                if found is not None:
                    return mac_text(found)
    return None
