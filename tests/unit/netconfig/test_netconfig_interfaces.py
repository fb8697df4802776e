"""netconfig.interfaces: the lossless parser, the static-address edit, validation, the API contract."""

from __future__ import annotations

import ast
import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest
from repo_paths import REPO

from netconfig.interfaces import (
    InterfacesError,
    StaticAddress,
    current_static,
    dropped_options,
    inet_stanza_count,
    mismatch,
    parse,
    parse_static_address,
    render_stanza,
    set_static,
    source_patterns,
    validate_interface_name,
)

CORPUS = Path(__file__).parent / "corpus"
CORPUS_FILES = sorted(CORPUS.glob("*.interfaces"))
MODULE = REPO / "netconfig" / "interfaces.py"
STATIC = parse_static_address("192.168.56.20/24", gateway="192.168.56.1")


def corpus(name: str) -> str:
    return (CORPUS / f"{name}.interfaces").read_text(encoding="utf-8")


def test_corpus_is_there() -> None:
    assert len(CORPUS_FILES) >= 7


# --------------------------------------------------------------------------------------------------
# Round trip and structure


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.stem)
def test_corpus_round_trips_byte_for_byte(path: Path) -> None:
    text = path.read_bytes().decode("utf-8")
    assert parse(text).render() == text


@pytest.mark.parametrize("text", [
    "", "\n", "\n\n\n", "#", "# only a comment", "auto lo", "iface lo inet loopback\n  ",
    "auto eth0 \\", "auto eth0 \\\n", "a \\\n\\\n\\\n", "\r\n\r\n",
    "iface eth0 inet static\r\n address 1\r\n",
    "\t\n  \t# x\\\n  y\n", "mapping eth0\n script x\n map a b\n", "option-without-stanza 1\nauto x\n",
    "iface e inet static\n\n\n  address 10.0.0.1/8\n# c\n\n", "\x0b\x0c\n\u2028 unicode \u00e9 line\n",
])
def test_odd_texts_round_trip(text: str) -> None:
    assert parse(text).render() == text


def test_structure_of_a_file() -> None:
    doc = parse(corpus("server-many-stanzas"))
    kinds = [(s.keyword, s.words[1] if len(s.words) > 1 else None) for s in doc.stanzas]
    assert kinds == [
        ("source", "/etc/network/interfaces.d/*.cfg"), ("source-directory", "interfaces.d"),
        ("auto", "lo"), ("allow-hotplug", "eth2"), ("iface", "lo"), ("iface", "eth0"), ("iface", "eth0"),
        ("iface", "eth1"), ("iface", "eth2"), ("mapping", "eth3"), ("allow-ovs", "br0"), ("iface", "br0"),
    ]
    eth0 = doc.iface_stanzas("eth0", "inet")[0]
    assert (eth0.family, eth0.method) == ("inet", "static")
    # continuation lines joined the way ifupdown joins them; the comment inside the stanza is no option
    assert eth0.options == (
        ("address", "203.0.113.10/24"), ("gateway", "203.0.113.1"),
        ("dns-nameservers", "203.0.113.53                     203.0.113.54"),
        ("up", "ip route add 198.51.100.0/24         via 203.0.113.254 dev eth0"),
    )
    assert [s.name for s in doc.marks("eth0")] == [None]  # the `auto lo eth0 eth1` line
    assert doc.marks("eth0")[0].words == ("auto", "lo", "eth0", "eth1")
    assert source_patterns(corpus("server-many-stanzas")) == [
        ("source", "/etc/network/interfaces.d/*.cfg"), ("source-directory", "interfaces.d")]


def test_continued_line_starting_with_hash_is_no_comment() -> None:
    doc = parse(corpus("continuation-and-marks"))
    eth0 = doc.iface_stanzas("eth0")[0]
    assert eth0.words == ("iface", "eth0", "inet", "static")  # header continued over two lines
    assert eth0.options[-1][0] == "post-up"
    assert "# not a comment" in eth0.options[-1][1]
    assert doc.marks("wlan0")[0].words == ("auto", "lo", "eth0", "wlan0")


def test_no_end_of_line_comments() -> None:
    """interfaces(5): only whole lines are comments; a '#' later in a line is part of it."""
    doc = parse("iface eth0 inet static\n    address 10.0.0.1/24 # office\n    up echo a#b\n  # c\n")
    assert doc.iface_stanzas("eth0")[0].options == (("address", "10.0.0.1/24 # office"), ("up", "echo a#b"))
    assert [e.kind for e in doc.entries] == ["stanza", "option", "option", "comment"]
    with pytest.raises(InterfacesError, match="invalid netmask '24 # office'"):
        current_static(doc.render(), "eth0")


def test_vagrant_block_is_recognised() -> None:
    doc = parse(corpus("vagrant-debian12"))
    assert [s.in_vagrant_block for s in doc.iface_stanzas("eth1")] == [True]
    assert [s.in_vagrant_block for s in doc.iface_stanzas("eth0")] == [False]
    assert doc.marks("eth1")[0].in_vagrant_block


# --------------------------------------------------------------------------------------------------
# set_static on the corpus


def _names(text: str) -> set[str]:
    doc = parse(text)
    marked = {w for s in doc.stanzas if s.keyword == "auto" or s.keyword.startswith("allow-")
              for w in s.words[1:]}
    return {s.name for s in doc.stanzas if s.name} | marked


CASES = [(path.stem, iface) for path in CORPUS_FILES for iface in sorted(_names(path.read_text()) | {"ncfg9"})
         if iface != "lo"]


@pytest.mark.parametrize(("name", "iface"), CASES)
def test_set_static_on_corpus(name: str, iface: str) -> None:
    text = corpus(name)
    new = set_static(text, iface, STATIC)
    # the result holds exactly that, once, and is a fixed point (the identical object comes back)
    assert mismatch(new, iface, STATIC) is None
    assert inet_stanza_count(new, iface) == 1
    assert current_static(new, iface) == STATIC
    assert set_static(new, iface, STATIC) is new
    assert parse(new).render() == new
    old_doc, new_doc = parse(text), parse(new)

    def kept(doc_text: str) -> list[str]:
        """The text of every stanza but IFACE's inet stanzas and the auto marks (the last line of the file
        may gain its newline)."""
        doc = parse(doc_text)
        return ["".join(e.raw for e in doc.entries[s.start:s.end]).rstrip("\n") for s in doc.stanzas
                if not (s.keyword == "iface" and s.name == iface and s.family == "inet")
                and s.keyword not in {"auto", "allow-auto", "allow-hotplug"}]

    def marks(doc_text: str) -> list[tuple[str, ...]]:
        """The auto marks, without IFACE."""
        words = [tuple(w for w in s.words if w != iface) for s in parse(doc_text).stanzas
                 if s.keyword in {"auto", "allow-auto", "allow-hotplug"}]
        return [w for w in words if len(w) > 1]

    assert kept(new) == kept(text)  # other interfaces, inet6, source lines: byte for byte, same order
    assert marks(new) == marks(text)
    assert [s.keyword for s in new_doc.marks(iface) if s.keyword in {"auto", "allow-hotplug"}] == ["auto"]
    removed = {i for s in old_doc.iface_stanzas(iface, "inet") for i in range(s.start, s.end)}
    old_comments = [e.logical for i, e in enumerate(old_doc.entries)
                    if e.kind == "comment" and i not in removed]
    new_comments = [e.logical for e in new_doc.entries if e.kind == "comment"]
    assert new_comments == old_comments


def test_debian_installer_dhcp_becomes_static_in_place() -> None:
    new = set_static(corpus("debian-installer"), "ens3", STATIC)
    assert new == corpus("debian-installer").replace(
        "allow-hotplug ens3\niface ens3 inet dhcp\n",
        "auto ens3\niface ens3 inet static\n    address 192.168.56.20/24\n    gateway 192.168.56.1\n")
    assert new.endswith("# This is an autoconfigured IPv6 interface\niface ens3 inet6 auto\n")


def test_vagrant_stanza_is_replaced_inside_its_block() -> None:
    new = set_static(corpus("vagrant-debian12"), "eth1", STATIC)
    assert new == corpus("vagrant-debian12").replace(
        "      address 192.168.56.10\n      netmask 255.255.255.0\n",
        "    address 192.168.56.20/24\n    gateway 192.168.56.1\n")


def test_vagrant_layout_with_the_same_values_is_left_alone() -> None:
    text = corpus("vagrant-debian12")
    same = parse_static_address("192.168.56.10", netmask="255.255.255.0")
    assert set_static(text, "eth1", same) is text
    assert current_static(text, "eth1") == same


def test_missing_stanza_is_appended_after_a_blank_line() -> None:
    text = corpus("cloud-source-directory")
    assert set_static(text, "eth0", STATIC) == text + "\n" + render_stanza("eth0", STATIC)
    assert set_static("", "eth0", STATIC) == render_stanza("eth0", STATIC)
    assert set_static("auto lo", "eth0", STATIC) == "auto lo\n\n" + render_stanza("eth0", STATIC)
    assert set_static("auto lo\n\n", "eth0", STATIC) == "auto lo\n\n" + render_stanza("eth0", STATIC)


def test_two_stanzas_collapse_into_one_at_the_first() -> None:
    new = set_static(corpus("duplicates-no-eol"), "eth1", STATIC)
    assert new == (
        "# two stanzas for eth1, set by two people at two times\nauto lo\niface lo inet loopback\n\n"
        "auto eth1\niface eth1 inet static\n    address 192.168.56.20/24\n    gateway 192.168.56.1\n\n"
        "# added later\n\niface eth1 inet6 auto\n   # trailing comment, no newline at end")
    assert inet_stanza_count(corpus("duplicates-no-eol"), "eth1") == 2
    assert "2 'iface eth1 inet' stanzas" in (mismatch(corpus("duplicates-no-eol"), "eth1", STATIC) or "")


def test_only_iface_leaves_a_shared_auto_line() -> None:
    new = set_static(corpus("server-many-stanzas"), "eth0", STATIC)
    assert "auto lo eth1\n" in new
    assert "\n# uplink\nauto eth0\niface eth0 inet static\n    address 192.168.56.20/24\n" in new
    assert "iface eth0 inet6 static\n    address 2001:db8::10/64\n    gateway 2001:db8::1\n" in new
    assert dropped_options(corpus("server-many-stanzas"), "eth0") == [
        "dns-nameservers 203.0.113.53                     203.0.113.54",
        "up ip route add 198.51.100.0/24         via 203.0.113.254 dev eth0"]


def test_word_is_cut_out_of_a_continued_auto_line() -> None:
    new = set_static(corpus("continuation-and-marks"), "eth0", STATIC)
    assert new.startswith("auto lo \\\n     wlan0\n   # indented comment\n")
    assert "allow-auto" not in new
    new = set_static(corpus("continuation-and-marks"), "wlan0", STATIC)
    assert new.startswith("auto lo \\\n     eth0\n")
    assert new.endswith("\nauto wlan0\niface wlan0 inet static\n    address 192.168.56.20/24\n"
                        "    gateway 192.168.56.1\n")


def test_mark_lines_with_several_words() -> None:
    text = "auto eth0 lo eth0\nallow-hotplug eth0\nallow-ovs eth0\niface eth0 inet manual\n"
    assert set_static(text, "eth0", STATIC) == "auto lo\nallow-ovs eth0\n" + render_stanza("eth0", STATIC)


def test_removed_line_between_blank_lines_takes_one_blank_along() -> None:
    text = "auto lo\n\nauto eth1\n\niface lo inet loopback\n\niface eth1 inet dhcp\n"
    assert set_static(text, "eth1", STATIC) == (
        "auto lo\n\niface lo inet loopback\n\n" + render_stanza("eth1", STATIC))


@pytest.mark.parametrize(("text", "why"), [
    ("auto eth1\niface eth1 inet static\n address 192.168.56.20/24\n", "not 192.168.56.20/24 via"),
    ("iface eth1 inet static\n address 192.168.56.20/24\n gateway 192.168.56.1\n", "not marked auto"),
    ("allow-hotplug eth1\nauto eth1\niface eth1 inet static\n"
     " address 192.168.56.20/24\n gateway 192.168.56.1\n",
     "allow-hotplug"),
    ("auto eth1\niface eth1 inet static\n address 192.168.56.20/24\n gateway 192.168.56.1\n mtu 9000\n",
     "other options: mtu"),
    ("auto eth1\niface eth1 inet static\n address 192.168.56.20\n gateway 192.168.56.1\n", "no prefix"),
    ("auto eth1\niface eth1 inet dhcp\n", "is not static"),
    ("auto eth1\niface eth1 inet6 static\n address fd00::1/64\n", "no 'iface eth1 inet' stanza"),
])
def test_near_misses_are_rewritten(text: str, why: str) -> None:
    assert why in (mismatch(text, "eth1", STATIC) or "")
    new = set_static(text, "eth1", STATIC)
    assert new != text
    assert mismatch(new, "eth1", STATIC) is None


def test_exact_file_in_any_layout_is_unchanged() -> None:
    text = ("auto lo eth1\niface lo inet loopback\n\n# ours\niface eth1 inet static\n\tnetmask 24\n"
            "\t# gw\n\tgateway 192.168.56.1\n\taddress 192.168.56.20\n")
    assert set_static(text, "eth1", STATIC) is text


def test_current_static() -> None:
    assert current_static(corpus("debian-installer"), "ens3") is None
    assert current_static(corpus("debian-installer"), "eth9") is None
    assert current_static(corpus("server-many-stanzas"), "eth0") == parse_static_address(
        "203.0.113.10/24", gateway="203.0.113.1")
    with pytest.raises(InterfacesError, match="has no address line"):
        current_static("iface eth0 inet static\n gateway 10.0.0.1\n", "eth0")
    with pytest.raises(InterfacesError, match="'iface eth0 inet static': invalid netmask"):
        current_static("iface eth0 inet static\n address 10.0.0.2\n netmask 255.0.255.0\n", "eth0")
    with pytest.raises(InterfacesError, match="2 'address' lines"):
        current_static("iface eth0 inet static\n address 10.0.0.2/8\n address 10.0.0.3/8\n", "eth0")


def test_inet_stanza_count() -> None:
    assert inet_stanza_count(corpus("server-many-stanzas"), "eth0") == 1  # its inet6 stanza does not count
    assert inet_stanza_count(corpus("duplicates-no-eol"), "eth1") == 2
    assert inet_stanza_count(corpus("duplicates-no-eol"), "eth0") == 0
    assert inet_stanza_count("#iface eth0 inet dhcp\n", "eth0") == 0


# --------------------------------------------------------------------------------------------------
# Rendering


def test_render_stanza_format_is_stable() -> None:
    assert render_stanza("eth1", STATIC) == (
        "auto eth1\niface eth1 inet static\n    address 192.168.56.20/24\n    gateway 192.168.56.1\n")
    assert render_stanza("eth1", parse_static_address("10.0.0.5", "255.0.0.0")) == (
        "auto eth1\niface eth1 inet static\n    address 10.0.0.5/8\n")
    with pytest.raises(InterfacesError):
        render_stanza("bad name", STATIC)


# --------------------------------------------------------------------------------------------------
# Validation


def test_static_address_helpers() -> None:
    s = parse_static_address(" 192.168.0.1 ", "255.255.255.0", "192.168.0.254")
    assert s == StaticAddress(ipaddress.IPv4Interface("192.168.0.1/24"),
                              ipaddress.IPv4Address("192.168.0.254"))
    assert (str(s.address), s.prefixlen, str(s.netmask), str(s.network), s.cidr) == (
        "192.168.0.1", 24, "255.255.255.0", "192.168.0.0/24", "192.168.0.1/24")
    assert parse_static_address("192.168.0.1/24", "24") == parse_static_address("192.168.0.1/24", "/24")
    assert parse_static_address("10.0.0.0/31").cidr == "10.0.0.0/31"  # /31: both addresses usable
    assert parse_static_address("10.0.0.1/32").cidr == "10.0.0.1/32"
    assert parse_static_address("192.168.0.1/255.255.255.0").cidr == "192.168.0.1/24"


@pytest.mark.parametrize(("args", "message"), [
    (("",), "the address is empty"),
    (("300.1.1.1/24",), "invalid address '300.1.1.1'"),
    (("192.168.01.1/24",), "invalid address '192.168.01.1'"),
    (("eth0",), "invalid address 'eth0'"),
    (("fd00::1/64",), "is IPv6"),
    (("192.168.0.1",), "has no prefix length"),
    (("192.168.0.1/",), "expected A/P"),
    (("192.168.0.1/24/8",), "expected A/P"),
    (("192.168.0.1/33",), "a prefix length is 0-32"),
    (("192.168.0.1/0",), "/0"),
    (("192.168.0.1", "255.0.255.0"), "not contiguous"),
    (("192.168.0.1", "0.0.0.255"), "not contiguous"),
    (("192.168.0.1", "mask"), "invalid netmask 'mask'"),
    (("192.168.0.1/24", "255.255.0.0"), "contradicts the prefix /24"),
    (("192.168.0.0/24",),
     "network address of 192.168.0.0/24; use a host address (192.168.0.1-192.168.0.254)"),
    (("192.168.0.255/24",), "broadcast address of 192.168.0.0/24"),
    (("0.0.0.0/8",), "unspecified"),
    (("127.0.0.2/8",), "loopback"),
    (("224.0.0.5/24",), "multicast"),
    (("240.0.0.5/24",), "reserved"),
    (("255.255.255.254/24",), "reserved"),
    (("192.168.0.1/24", None, "10.0.0.1"), "gateway 10.0.0.1 is outside the subnet 192.168.0.0/24"),
    (("192.168.0.1/24", None, "192.168.0.1"), "is the address itself"),
    (("192.168.0.1/24", None, "192.168.0.255"), "gateway 192.168.0.255 is the broadcast address"),
    (("192.168.0.1/24", None, "192.168.0.0"), "gateway 192.168.0.0 is the network address"),
    (("192.168.0.1/24", None, "gw"), "invalid gateway 'gw'"),
    (("192.168.0.1/24", None, "fe80::1"), "gateway 'fe80::1' is IPv6"),
    (("10.0.0.1/32", None, "10.0.0.2"), "outside the subnet 10.0.0.1/32"),
])
def test_every_validation_error_is_one_clear_line(args: tuple[str | None, ...], message: str) -> None:
    with pytest.raises(InterfacesError) as raised:
        parse_static_address(*args)  # type: ignore[arg-type]
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("name", ["eth0", "ens3", "enp0s31f6", "wlp2s0", "br-lan", "veth_1.100", "a" * 15,
                                  "lo"])
def test_valid_interface_names(name: str) -> None:
    assert validate_interface_name(name) == name


@pytest.mark.parametrize(("name", "message"), [
    ("", "empty"), ("a" * 16, "longer than 15"), (".", "invalid"), ("..", "invalid"),
    ("eth 0", "whitespace"), ("eth0\t", "printable"), ("eth/0", "'/'"), ("eth0:1", "alias labels"),
    ("eth0@if5", "the part before '@'"), ("-eth0", "starts with '-'"), ("eth#0", "'#'"), ("ethé", "ASCII"),
    ("eth\n0", "printable"), ("a=b", "mapping"), ("a\\b", "backslash"),
])
def test_invalid_interface_names(name: str, message: str) -> None:
    with pytest.raises(InterfacesError, match=message) as raised:
        validate_interface_name(name)
    assert "\n" not in str(raised.value)


# --------------------------------------------------------------------------------------------------
# The contract: pure, stdlib only, usable on its own as Ansible module_utils


def test_module_imports_only_the_standard_library() -> None:
    tree = ast.parse(MODULE.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            imported.add((node.module or "").split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def test_module_works_as_a_lone_file(tmp_path: Path) -> None:
    (tmp_path / "chatlab_interfaces.py").write_text(MODULE.read_text())
    code = ("import sys\nsys.path.insert(0, '.')\nimport chatlab_interfaces as m\n"
            "s = m.parse_static_address('10.0.0.5/24', gateway='10.0.0.1')\n"
            "t = m.set_static('auto lo\\n', 'eth1', s)\n"
            "assert m.set_static(t, 'eth1', s) is t and m.current_static(t, 'eth1') == s\n"
            "print(m.inet_stanza_count(t, 'eth1'), m.validate_interface_name('eth1'))\n")
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1 eth1\n"
