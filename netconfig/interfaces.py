"""The ifupdown ``interfaces(5)`` file: a lossless parser and the static-address edit.

PURE and STDLIB-ONLY: this module imports nothing from the netconfig package nor any third-party
module, because it is shipped verbatim to remote hosts as Ansible ``module_utils``.

Parsing keeps every byte: ``parse(text).render() == text`` for any text. The only edit is
:func:`set_static`, which rewrites what belongs to one interface's ``inet`` configuration and leaves the
rest of the file (comments, blank lines, ``source`` lines, other interfaces, the interface's ``inet6``
stanza, Vagrant's ``#VAGRANT-BEGIN``/``#VAGRANT-END`` block markers) byte-for-byte as it was.

The stanza it writes (stable; see :func:`render_stanza`)::

    auto eth1
    iface eth1 inet static
        address 192.168.56.10/24
        gateway 192.168.56.1

(four spaces of indentation, the prefix length in the address, no ``netmask`` line, the ``gateway``
line only when there is a gateway), and for each static route a pair of lines that ifup and ifdown run::

        up ip route replace 192.168.57.0/24 via 192.168.56.1
        down ip route del 192.168.57.0/24 via 192.168.56.1

(``replace``: an ifup after an unclean ifdown does not fail on a route that is still there.)
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Entry",
    "InterfacesDocument",
    "InterfacesError",
    "Stanza",
    "StaticAddress",
    "StaticRoute",
    "current_static",
    "dropped_options",
    "inet_stanza_count",
    "mismatch",
    "parse",
    "parse_route",
    "parse_static_address",
    "render_stanza",
    "set_static",
    "source_patterns",
    "validate_interface_name",
]

INDENT = "    "
IFNAMSIZ = 16  # Linux: names are at most 15 bytes plus the terminating NUL
# Lines that start a new stanza (interfaces(5)); anything else inside an iface/mapping is an option.
_STANZA_KEYWORDS = frozenset(
    {"iface", "mapping", "auto", "source", "source-directory", "source-dir", "rename", "no-auto-down",
     "no-scripts"}
)
# The "bring it up at boot" marks that set_static moves to the new stanza. Other allow-CLASS lines
# (allow-ovs, ...) belong to other tools and are left alone.
_AUTO_MARKS = frozenset({"auto", "allow-auto", "allow-hotplug"})
_STATIC_OPTIONS = frozenset({"address", "netmask", "gateway"})
# the route lines netconfig writes (and reads back): "up ip route replace NET via GW", "down ip route del NET via GW"
_ROUTE_UP = re.compile(r"^ip\s+route\s+(?:add|replace)\s+(\S+)\s+via\s+(\S+)$")
_ROUTE_DOWN = re.compile(r"^ip\s+route\s+del\s+(\S+)\s+via\s+(\S+)$")
VAGRANT_BEGIN = "#VAGRANT-BEGIN"
VAGRANT_END = "#VAGRANT-END"


class InterfacesError(ValueError):
    """Invalid input for the interfaces file; ``str(e)`` is one clear line."""


# --------------------------------------------------------------------------------------------------
# Addresses and names


@dataclass(frozen=True, order=True)
class StaticRoute:
    """A static route: the destination network, reached via a gateway on the interface's subnet."""

    network: ipaddress.IPv4Network
    via: ipaddress.IPv4Address

    def describe(self) -> str:
        """``"192.168.57.0/24 via 192.168.56.1"``."""
        return f"{self.network} via {self.via}"


@dataclass(frozen=True)
class StaticAddress:
    """A static IPv4 configuration: the address with its prefix, an optional gateway, static routes (sorted)."""

    interface: ipaddress.IPv4Interface
    gateway: ipaddress.IPv4Address | None = None
    routes: tuple[StaticRoute, ...] = ()

    @property
    def address(self) -> ipaddress.IPv4Address:
        return self.interface.ip

    @property
    def prefixlen(self) -> int:
        return self.interface.network.prefixlen

    @property
    def netmask(self) -> ipaddress.IPv4Address:
        return self.interface.netmask

    @property
    def network(self) -> ipaddress.IPv4Network:
        return self.interface.network

    @property
    def cidr(self) -> str:
        """``"192.168.56.10/24"``."""
        return self.interface.with_prefixlen

    def describe(self) -> str:
        """``"192.168.56.10/24 via 192.168.56.1"`` or ``"192.168.56.10/24 (no gateway)"``, then the routes
        (``", route 192.168.57.0/24 via 192.168.56.1"``)."""
        text = f"{self.cidr} via {self.gateway}" if self.gateway else f"{self.cidr} (no gateway)"
        return text + "".join(f", route {route.describe()}" for route in self.routes)


def _parse_ipv4(text: str, what: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        try:
            ipaddress.IPv6Address(text.split("%")[0])
        except ValueError:
            raise InterfacesError(f"invalid {what} {text!r}: expected an IPv4 address like 192.168.56.10") \
                from None
        raise InterfacesError(
            f"{what} {text!r} is IPv6: netconfig writes IPv4 (inet) stanzas only") from None


def _parse_netmask(text: str) -> int:
    """A dotted netmask (255.255.255.0) or a prefix length (24 or /24) -> the prefix length."""
    raw = text.strip()
    bare = raw[1:] if raw.startswith("/") else raw
    if bare.isdigit():
        prefix = int(bare)
        if prefix > 32:
            raise InterfacesError(f"invalid netmask {text!r}: a prefix length is 0-32")
        return prefix
    try:
        value = int(ipaddress.IPv4Address(bare))
    except ValueError:
        raise InterfacesError(
            f"invalid netmask {text!r}: use a dotted mask like 255.255.255.0 or a prefix length like 24"
        ) from None
    prefix = 32 - (~value & 0xFFFFFFFF).bit_length()
    if value != (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF:
        raise InterfacesError(f"invalid netmask {text!r}: its one bits are not contiguous from the left")
    return prefix


def _host_range(network: ipaddress.IPv4Network) -> str:
    if network.prefixlen >= 31:
        return f"{network[0]}-{network[-1]}"
    return f"{network[1]}-{network[-2]}"


def _check_host(ip: ipaddress.IPv4Address, network: ipaddress.IPv4Network, what: str) -> None:
    """`ip` must be a usable unicast host address of `network`."""
    if ip.is_unspecified:
        raise InterfacesError(f"{what} {ip} is the unspecified address")
    if ip.is_loopback:
        raise InterfacesError(f"{what} {ip} is a loopback address (127.0.0.0/8)")
    if ip.is_multicast:
        raise InterfacesError(f"{what} {ip} is a multicast address (224.0.0.0/4)")
    if ip.is_reserved:
        raise InterfacesError(f"{what} {ip} is in the reserved range 240.0.0.0/4")
    if network.prefixlen < 31:
        if ip == network.network_address:
            raise InterfacesError(
                f"{what} {ip} is the network address of {network}; use a host address "
                f"({_host_range(network)})")
        if ip == network.broadcast_address:
            raise InterfacesError(
                f"{what} {ip} is the broadcast address of {network}; use a host address "
                f"({_host_range(network)})")


def parse_route(text: str) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Address]:
    """``"192.168.57.0/24 via 192.168.56.1"`` -> (network, gateway); InterfacesError (one line) otherwise."""
    words = text.split()
    if len(words) != 3 or words[1] != "via":
        raise InterfacesError(f"invalid route {text!r}: expected NET via GW, e.g. 192.168.57.0/24 via 192.168.56.1")
    return _route_pair(words[0], words[2], text)


def _route_pair(network_text: str, via: str,
                shown: str | None = None) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Address]:
    """(NET, GW) as a (network, gateway) pair; InterfacesError (one line, naming `shown`) otherwise."""
    try:
        network = ipaddress.IPv4Network(network_text.strip())
    except ValueError as e:
        raise InterfacesError(f"invalid route {shown or f'{network_text} via {via}'!r}: {e}") from None
    return network, _parse_ipv4(via.strip(), f"gateway of the route to {network}")


def _check_routes(iface: ipaddress.IPv4Interface,
                  routes: list[tuple[ipaddress.IPv4Network, ipaddress.IPv4Address]]) -> tuple[StaticRoute, ...]:
    seen: dict[ipaddress.IPv4Network, ipaddress.IPv4Address] = {}
    for network, via in routes:
        shown = f"the route to {network} via {via}"
        if network.prefixlen == 0:
            raise InterfacesError(f"{shown} is a default route: give it as the gateway instead")
        if network.overlaps(iface.network):
            raise InterfacesError(f"{shown} overlaps the interface's own subnet {iface.network}")
        if via not in iface.network or via == iface.ip:
            raise InterfacesError(f"{shown}: the gateway must be another host of the subnet {iface.network}")
        _check_host(via, iface.network, f"the gateway of {shown}")
        if network in seen:
            raise InterfacesError(f"two routes to {network} (via {seen[network]} and via {via})")
        seen[network] = via
    return tuple(sorted(StaticRoute(network, via) for network, via in seen.items()))


def parse_static_address(address: str, netmask: str | None = None, gateway: str | None = None,
                         routes: Sequence[str | tuple[str, str]] = ()) -> StaticAddress:
    """Validate and build a :class:`StaticAddress`.

    `address` is ``"192.168.0.1/24"``, or ``"192.168.0.1"`` with `netmask` ``"255.255.255.0"`` (or
    ``"24"``). Both may be given if they agree. `routes` are ``"NET via GW"`` strings or (NET, GW) pairs.
    Raises :class:`InterfacesError` (one clear line) when the address is not a usable host address of its
    subnet (network, broadcast, loopback, multicast...), the gateway is outside the subnet or equal to the
    address, or a route is not a network reached via another host of the subnet (or two go to one network).
    """
    text = address.strip()
    if not text:
        raise InterfacesError("the address is empty: give it as A/P, e.g. 192.168.56.10/24")
    ip_text, slash, prefix_text = text.partition("/")
    ip = _parse_ipv4(ip_text, "address")
    prefix: int | None = None
    if slash:
        if not prefix_text or "/" in prefix_text:
            raise InterfacesError(f"invalid address {address!r}: expected A/P, e.g. 192.168.56.10/24")
        prefix = _parse_netmask(prefix_text)
    if netmask is not None:
        mask_prefix = _parse_netmask(netmask)
        if prefix is not None and prefix != mask_prefix:
            raise InterfacesError(
                f"netmask {netmask} (/{mask_prefix}) contradicts the prefix /{prefix} of {address}")
        prefix = mask_prefix
    if prefix is None:
        raise InterfacesError(
            f"address {ip} has no prefix length: give it as {ip}/24 (for example) or add a netmask")
    if prefix == 0:
        raise InterfacesError(f"prefix length /0 in {address!r} is not usable for an interface address")
    iface = ipaddress.IPv4Interface((ip, prefix))
    _check_host(ip, iface.network, "address")
    gw: ipaddress.IPv4Address | None = None
    if gateway is not None:
        gw = _parse_ipv4(gateway.strip(), "gateway")
        if gw == ip:
            raise InterfacesError(f"gateway {gw} is the address itself; the gateway is another host")
        if gw not in iface.network:
            raise InterfacesError(
                f"gateway {gw} is outside the subnet {iface.network} of {iface.with_prefixlen}")
        _check_host(gw, iface.network, "gateway")
    pairs = [parse_route(route) if isinstance(route, str) else _route_pair(*route) for route in routes]
    return StaticAddress(iface, gw, _check_routes(iface, pairs))


_FORBIDDEN_NAME_CHARS = {
    "/": "'/'",
    ":": "':' (alias labels like eth0:1 are not interfaces)",
    "@": "'@' (ip shows veth and vlan links as NAME@PEER: the name is the part before '@')",
    "#": "'#'",
    "\\": "a backslash",
    "=": "'=' (ifupdown's mapping syntax)",
}


def validate_interface_name(name: str) -> str:
    """Return `name` if it is a valid Linux interface name usable in an interfaces file.

    Linux rules (dev_valid_name): 1-15 bytes, not ``.``/``..``, no ``/``, ``:`` or whitespace. Stricter
    for ifupdown and the command line: printable ASCII only, no ``@``, ``#``, ``=``, backslash, and no
    leading ``-``.
    """
    if not name:
        raise InterfacesError("the interface name is empty")
    shown = name if name.isprintable() else name.encode("unicode_escape").decode("ascii")
    if not (name.isascii() and name.isprintable()):
        raise InterfacesError(
            f"invalid interface name {shown!r}: only printable ASCII characters are allowed")
    if len(name) >= IFNAMSIZ:
        raise InterfacesError(
            f"invalid interface name {shown!r}: longer than {IFNAMSIZ - 1} characters ({len(name)})")
    if name in {".", ".."}:
        raise InterfacesError(f"invalid interface name {shown!r}")
    if any(c.isspace() for c in name):
        raise InterfacesError(f"invalid interface name {shown!r}: it contains whitespace")
    for char, why in _FORBIDDEN_NAME_CHARS.items():
        if char in name:
            raise InterfacesError(f"invalid interface name {shown!r}: it contains {why}")
    if name.startswith("-"):
        raise InterfacesError(f"invalid interface name {shown!r}: it starts with '-'")
    return name


# --------------------------------------------------------------------------------------------------
# The lossless parser

EntryKind = Literal["blank", "comment", "stanza", "option"]


@dataclass(frozen=True)
class Entry:
    """One logical line: a physical line, or several joined by backslash continuations.

    `raw` is the exact text including line endings (the last line may lack one at end of file).
    `logical` is what ifupdown sees (continuations joined, no line ending); `words` its words.
    """

    raw: str
    kind: EntryKind
    logical: str
    words: tuple[str, ...]
    # for each character of `logical`, its index in `raw` (lets an edit remove one word in place)
    positions: tuple[int, ...]
    in_vagrant_block: bool = False


@dataclass(frozen=True)
class Stanza:
    """A stanza: its header entry and, for ``iface``/``mapping``, its option entries.

    Entries ``start`` (the header) to ``end`` (exclusive, just after the last option) of the
    document; comment and blank lines between options are inside, those after the last option are not.
    """

    keyword: str
    words: tuple[str, ...]
    start: int
    end: int
    options: tuple[tuple[str, str], ...]
    in_vagrant_block: bool

    @property
    def name(self) -> str | None:
        """The interface of an ``iface`` stanza."""
        return self.words[1] if self.keyword == "iface" and len(self.words) > 1 else None

    @property
    def family(self) -> str | None:
        return self.words[2] if self.keyword == "iface" and len(self.words) > 2 else None

    @property
    def method(self) -> str | None:
        return self.words[3] if self.keyword == "iface" and len(self.words) > 3 else None

    @property
    def header(self) -> str:
        return " ".join(self.words)


@dataclass(frozen=True)
class InterfacesDocument:
    entries: tuple[Entry, ...]
    stanzas: tuple[Stanza, ...]

    def render(self) -> str:
        """The text, byte-for-byte what was parsed."""
        return "".join(entry.raw for entry in self.entries)

    def iface_stanzas(self, iface: str, family: str | None = None) -> list[Stanza]:
        return [s for s in self.stanzas
                if s.keyword == "iface" and s.name == iface and (family is None or s.family == family)]

    def marks(self, iface: str) -> list[Stanza]:
        """The ``auto``/``allow-*`` lines that name `iface`."""
        return [s for s in self.stanzas
                if (s.keyword == "auto" or s.keyword.startswith("allow-")) and iface in s.words[1:]]


_PHYSICAL_LINE = re.compile(r"[^\n]*\n|[^\n]+")


def _logical_lines(text: str) -> list[tuple[str, str, tuple[int, ...], bool]]:
    """Split into (raw, logical, positions, is_comment) the way ifupdown's config reader does.

    ifupdown strips leading whitespace, skips lines that then start with '#' (a comment cannot be
    continued), and joins a line ending in a backslash (right before the newline) with the next
    physical line, which is taken as it is (even if it starts with '#').
    """
    physical = _PHYSICAL_LINE.findall(text)
    out: list[tuple[str, str, tuple[int, ...], bool]] = []
    i = 0
    while i < len(physical):
        line = physical[i]
        i += 1
        content = line[:-1] if line.endswith("\n") else line
        if content.lstrip().startswith("#"):
            out.append((line, content, tuple(range(len(content))), True))
            continue
        raw = line
        logical: list[str] = []
        positions: list[int] = []
        offset = 0
        while content.endswith("\\") and i < len(physical):
            logical.append(content[:-1])
            positions.extend(range(offset, offset + len(content) - 1))
            offset += len(line)
            line = physical[i]
            i += 1
            raw += line
            content = line[:-1] if line.endswith("\n") else line
        if content.endswith("\\"):  # a continuation at end of file: ifupdown drops the backslash
            content = content[:-1]
        logical.append(content)
        positions.extend(range(offset, offset + len(content)))
        out.append((raw, "".join(logical), tuple(positions), False))
    return out


def _option(entry: Entry) -> tuple[str, str]:
    """(key, value) of an option line: ``address 10.0.0.1/8`` -> ("address", "10.0.0.1/8")."""
    key = entry.words[0]
    return key, entry.logical.strip()[len(key):].strip()


def parse(text: str) -> InterfacesDocument:
    """Parse an interfaces(5) file. Never fails: lines ifupdown would reject are kept as they are."""
    entries: list[Entry] = []
    stanzas: list[Stanza] = []
    in_vagrant = False
    # the open stanza: its header index, header entry and option entries' indices
    open_header: int | None = None
    open_options: list[int] = []

    def close() -> None:
        nonlocal open_header, open_options
        if open_header is not None:
            header = entries[open_header]
            end = (open_options[-1] if open_options else open_header) + 1
            options = tuple(_option(entries[j]) for j in open_options)
            stanzas.append(Stanza(header.words[0], header.words, open_header, end, options,
                                  header.in_vagrant_block))
        open_header, open_options = None, []

    for raw, logical, positions, is_comment in _logical_lines(text):
        words = tuple(logical.split())
        if is_comment:
            marker = logical.strip()
            if marker.startswith(VAGRANT_BEGIN):
                in_vagrant = True
            entries.append(Entry(raw, "comment", logical, (), positions, in_vagrant))
            if marker.startswith(VAGRANT_END):
                in_vagrant = False
            continue
        if not words:
            entries.append(Entry(raw, "blank", logical, (), positions, in_vagrant))
            continue
        keyword = words[0]
        if keyword in _STANZA_KEYWORDS or keyword.startswith("allow-"):
            close()
            entries.append(Entry(raw, "stanza", logical, words, positions, in_vagrant))
            index = len(entries) - 1
            if keyword in {"iface", "mapping"}:
                open_header = index
            else:
                stanzas.append(Stanza(keyword, words, index, index + 1, (), in_vagrant))
            continue
        # an option of the open iface/mapping stanza, or (outside one) a line ifupdown rejects
        entries.append(Entry(raw, "option", logical, words, positions, in_vagrant))
        if open_header is not None:
            open_options.append(len(entries) - 1)
    close()
    stanzas.sort(key=lambda s: s.start)
    return InterfacesDocument(tuple(entries), tuple(stanzas))


def source_patterns(text: str) -> list[tuple[str, str]]:
    """The ``source``/``source-directory`` lines as (keyword, pattern), in file order."""
    return [(s.keyword, word) for s in parse(text).stanzas
            if s.keyword in {"source", "source-directory", "source-dir"} for word in s.words[1:]]


# --------------------------------------------------------------------------------------------------
# The static-address edit


def render_stanza(iface: str, static: StaticAddress) -> str:
    """The stanza netconfig writes, e.g.::

        auto eth1
        iface eth1 inet static
            address 192.168.56.10/24
            gateway 192.168.56.1
            up ip route replace 192.168.57.0/24 via 192.168.56.1
            down ip route del 192.168.57.0/24 via 192.168.56.1
    """
    validate_interface_name(iface)
    text = f"auto {iface}\niface {iface} inet static\n{INDENT}address {static.cidr}\n"
    if static.gateway is not None:
        text += f"{INDENT}gateway {static.gateway}\n"
    for route in static.routes:
        text += (f"{INDENT}up ip route replace {route.network} via {route.via}\n"
                 f"{INDENT}down ip route del {route.network} via {route.via}\n")
    return text


def inet_stanza_count(text: str, iface: str) -> int:
    """How many ``iface IFACE inet ...`` stanzas the file has."""
    return len(parse(text).iface_stanzas(iface, "inet"))


def _stanza_static(stanza: Stanza) -> StaticAddress:
    """The StaticAddress an ``inet static`` stanza configures; InterfacesError if it is incomplete."""
    where = f"'{stanza.header}'"
    values: dict[str, list[str]] = {}
    for key, value in stanza.options:
        values.setdefault(key, []).append(value)
    ups, _ = _stanza_routes(stanza)
    for key in ("address", "netmask", "gateway"):
        if len(values.get(key, [])) > 1:
            raise InterfacesError(f"{where} has {len(values[key])} '{key}' lines; netconfig handles one")
    if not values.get("address"):
        raise InterfacesError(f"{where} has no address line")
    try:
        return parse_static_address(values["address"][0], values.get("netmask", [None])[0],
                                    values.get("gateway", [None])[0], ups)
    except InterfacesError as e:
        raise InterfacesError(f"{where}: {e}") from None


def _route_line(key: str, value: str) -> tuple[str, str] | None:
    """(NET, GW) of an ``up``/``down`` line that netconfig writes for a route, else None."""
    pattern = _ROUTE_UP if key == "up" else _ROUTE_DOWN if key == "down" else None
    found = pattern.match(" ".join(value.split())) if pattern else None
    return (found.group(1), found.group(2)) if found else None


def _is_static_option(key: str, value: str) -> bool:
    return key in _STATIC_OPTIONS or _route_line(key, value) is not None


def _stanza_routes(stanza: Stanza) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The routes of the stanza's ``up`` and of its ``down`` route lines."""
    ups = [route for key, value in stanza.options if key == "up" and (route := _route_line(key, value))]
    downs = [route for key, value in stanza.options if key == "down" and (route := _route_line(key, value))]
    return ups, downs


def current_static(text: str, iface: str) -> StaticAddress | None:
    """The static address the file configures for `iface` (its first ``inet static`` stanza), or None.

    Raises InterfacesError when that stanza is incomplete or invalid (no address, bad netmask...).
    """
    for stanza in parse(text).iface_stanzas(iface, "inet"):
        if stanza.method == "static":
            return _stanza_static(stanza)
    return None


def mismatch(text: str, iface: str, static: StaticAddress) -> str | None:
    """Why the file does not hold exactly `static` for `iface`, or None when it does.

    "Exactly" means: one ``iface IFACE inet`` stanza, method static, with only address/netmask/gateway
    options and netconfig's route lines giving `static` (a missing gateway must be missing, each route an
    ``up`` and a ``down`` line), and IFACE on an ``auto`` (or
    ``allow-auto``) line and on no ``allow-hotplug`` line. The netmask may be a separate line and the
    lines may be laid out in any way (e.g. Vagrant's): such a file is left as it is.
    """
    doc = parse(text)
    stanzas = doc.iface_stanzas(iface, "inet")
    if not stanzas:
        return f"no 'iface {iface} inet' stanza"
    if len(stanzas) > 1:
        return f"{len(stanzas)} 'iface {iface} inet' stanzas (ifupdown applies all of them)"
    stanza = stanzas[0]
    if stanza.method != "static":
        return f"'{stanza.header}' is not static"
    extra = [key for key, value in stanza.options if not _is_static_option(key, value)]
    if extra:
        return f"'{stanza.header}' has other options: {', '.join(extra)}"
    try:
        held = _stanza_static(stanza)
    except InterfacesError as e:
        return str(e)
    ups, downs = _stanza_routes(stanza)
    if sorted(ups) != sorted(downs):
        return f"'{stanza.header}': its 'up ip route' and 'down ip route del' lines do not name the same routes"
    if held != static:
        return f"the file has {held.describe()}, not {static.describe()}"
    marks = {s.keyword for s in doc.marks(iface)}
    if "allow-hotplug" in marks:
        return f"{iface} is marked allow-hotplug instead of auto"
    if not marks & {"auto", "allow-auto"}:
        return f"{iface} is not marked auto (it would not come up at boot)"
    return None


def dropped_options(text: str, iface: str) -> list[str]:
    """The option lines that set_static drops with the old ``inet`` stanzas (all but
    address/netmask/gateway and netconfig's route lines)."""
    return [f"{key} {value}".rstrip() for stanza in parse(text).iface_stanzas(iface, "inet")
            for key, value in stanza.options if not _is_static_option(key, value)]


def _without_word(entry: Entry, word: str) -> str | None:
    """`entry.raw` with every occurrence of the word `word` removed (and the blank before it).

    None when only the keyword would be left (the whole line goes).
    """
    spans = [m.span() for m in re.finditer(r"\S+", entry.logical)]
    keep = [entry.logical[a:b] for a, b in spans[1:] if entry.logical[a:b] != word]
    if not keep:
        return None
    raw = entry.raw
    # remove from the end so earlier raw positions stay valid; each word goes with the blank before it
    for index in range(len(spans) - 1, 0, -1):
        start, end = spans[index]
        if entry.logical[start:end] != word:
            continue
        cut_from = entry.positions[spans[index - 1][1]]  # just after the previous word
        cut_to = entry.positions[end - 1] + 1
        raw = raw[:cut_from] + raw[cut_to:]
    return raw


def set_static(text: str, iface: str, static: StaticAddress) -> str:
    """The file text with `static` as the ``inet`` configuration of `iface`.

    Returns `text` itself when it already holds exactly that configuration (see :func:`mismatch`).
    Otherwise: the first ``iface IFACE inet`` stanza (any method) is replaced in place by
    :func:`render_stanza` (which carries the ``auto IFACE`` line), further ``inet`` stanzas of IFACE
    are removed, and IFACE is removed from ``auto``/``allow-auto``/``allow-hotplug`` lines (a line
    naming only IFACE goes, ``auto lo eth0`` becomes ``auto lo``). Without an inet stanza, the new one
    is appended at the end of the file after a blank line. The old stanza's comments and other options
    (see :func:`dropped_options`) go with it; its ``inet6`` stanza, other interfaces, comments, blank
    lines and ``source`` lines outside the removed lines are kept byte for byte.
    """
    validate_interface_name(iface)
    if mismatch(text, iface, static) is None:
        return text
    doc = parse(text)
    new_stanza = render_stanza(iface, static)
    inet = doc.iface_stanzas(iface, "inet")
    replace_at = inet[0].start if inet else None
    removed: set[int] = set()  # entries that go entirely
    rewritten: dict[int, str] = {}  # entries whose raw text changes
    for stanza in inet:
        removed.update(range(stanza.start, stanza.end))
    for mark in doc.marks(iface):
        if mark.keyword in _AUTO_MARKS:
            new_raw = _without_word(doc.entries[mark.start], iface)
            if new_raw is None:
                removed.add(mark.start)
            else:
                rewritten[mark.start] = new_raw

    out: list[str] = []
    skip_blank = False
    for index, entry in enumerate(doc.entries):
        if index == replace_at:
            if out and not out[-1].endswith("\n"):
                out[-1] += "\n"
            out.append(new_stanza)
            skip_blank = False
            continue
        if index in removed:
            # a line that goes between a blank line (or the top) and a blank line takes one blank with it
            at_blank = not out or out[-1].strip() == ""
            skip_blank = skip_blank or at_blank
            continue
        if skip_blank and entry.kind == "blank":
            skip_blank = False
            continue
        skip_blank = False
        out.append(rewritten.get(index, entry.raw))
    if replace_at is None:
        body = "".join(out)
        if body and not body.endswith("\n"):
            body += "\n"
        if body and not body.endswith("\n\n"):
            body += "\n"
        return body + new_stanza
    return "".join(out)
