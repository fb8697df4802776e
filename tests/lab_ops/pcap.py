"""A reader of libpcap files (what tcpdump -w writes and Wireshark opens): the TCP segments over IPv4 in them."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

LINKTYPE_ETHERNET = 1
ETHERTYPE_IPV4 = 0x0800
PROTOCOL_TCP = 6
MAGIC = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}


@dataclass(frozen=True)
class Segment:
    source: str
    source_port: int
    destination: str
    destination_port: int
    payload: bytes


def tcp_segments(data: bytes) -> list[Segment]:
    """Raises ValueError for what is not a pcap file of Ethernet frames."""
    order = MAGIC.get(data[:4])
    if order is None:
        raise ValueError(f"not a pcap file (magic {data[:4].hex()})")
    linktype = struct.unpack(order + "I", data[20:24])[0]
    if linktype != LINKTYPE_ETHERNET:
        raise ValueError(f"link type {linktype}, not Ethernet")
    segments, offset = [], 24
    while offset + 16 <= len(data):
        captured = struct.unpack(order + "I", data[offset + 8:offset + 12])[0]
        frame = data[offset + 16:offset + 16 + captured]
        offset += 16 + captured
        if len(frame) < 34 or struct.unpack("!H", frame[12:14])[0] != ETHERTYPE_IPV4:
            continue
        ip = frame[14:]
        header, total = (ip[0] & 0x0F) * 4, struct.unpack("!H", ip[2:4])[0]
        if ip[9] != PROTOCOL_TCP:
            continue
        tcp = ip[header:total]
        source_port, destination_port = struct.unpack("!HH", tcp[:4])
        segments.append(Segment(str(ipaddress.IPv4Address(ip[12:16])), source_port,
                                str(ipaddress.IPv4Address(ip[16:20])), destination_port,
                                tcp[(tcp[12] >> 4) * 4:]))
    return segments
