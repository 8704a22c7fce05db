"""Address entries of a credential's `domain` and the client behind a trusted proxy (docs/domain-patterns.md)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyturn.core.addresses import (
    AddressError,
    address_in,
    domain_networks,
    forwarded_client,
    is_address_entry,
    networks,
    parse_entry,
    parse_ip,
)
from keyturn.core.origins import PatternError, origin_allowed, parse_domain, parse_patterns

SEED = ".*tropipay.com.* www.my.app.cu *.localhost.*"
PROXY = networks(("10.0.0.0/8", "::1/128"))


@pytest.mark.parametrize("entry", ["203.0.113.7", "203.0.113.0/24", "2001:db8::/32", "::1", "2001:DB8::1", "::",
                                   "0.0.0.0/0", "10.0.0.0/33", "10.0.0.1/24", "fe80::1%eth0", "[2001:db8::]/32"])
def test_bare_addresses_and_networks_are_address_entries(entry: str) -> None:
    assert is_address_entry(entry)


@pytest.mark.parametrize("entry", ["www.my.app.cu", "*.localhost.*", ".*tropipay.com.*", "127.0.0.1:8080",
                                   "127.0.0.1:*", "127.0.0.1.*", "http://127.0.0.1", "[::1]", "[::1]:*", "*.127.0.0.1",
                                   "1234", "example.com/24", "localhost", "10.0.0", "0x7f000001"])
def test_everything_else_stays_an_origin_pattern(entry: str) -> None:
    assert not is_address_entry(entry)


@pytest.mark.parametrize(("entry", "network"), [("203.0.113.7", "203.0.113.7/32"), ("203.0.113.0/24", "203.0.113.0/24"),
                                                ("2001:db8::/32", "2001:db8::/32"), ("::1", "::1/128"),
                                                ("10.0.0.0/255.0.0.0", "10.0.0.0/8"), ("0.0.0.0/0", "0.0.0.0/0")])
def test_entries_parse_as_networks(entry: str, network: str) -> None:
    assert parse_entry(entry) == ipaddress.ip_network(network)


@pytest.mark.parametrize(("entry", "says"), [("10.0.0.0/33", "not an IP address or CIDR network"),
                                             ("10.0.0.1/24", "did you mean 10.0.0.0/24"),
                                             ("2001:db8::1/32", "did you mean 2001:db8::/32"),
                                             ("fe80::1%eth0", "zone"), ("[2001:db8::]/32", "without brackets"),
                                             ("::ffff:10.0.0.1", "IPv4 form"), ("::ffff:0:0/96", "IPv4 form"),
                                             ("10.0.0.0/x", "not an IP address")])
def test_invalid_entries_are_refused_with_a_reason(entry: str, says: str) -> None:
    with pytest.raises(AddressError, match=says):
        parse_entry(entry)
    with pytest.raises(PatternError, match=says):
        parse_domain(f"www.my.app.cu {entry}")


def test_a_domain_splits_into_origin_patterns_and_networks() -> None:
    patterns, nets = parse_domain(f"{SEED} 203.0.113.0/24 2001:db8::/32 127.0.0.1:*")
    assert nets == (ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("2001:db8::/32"))
    assert patterns == parse_patterns(f"{SEED} 127.0.0.1:*")  # the seed's patterns mean what they meant
    assert origin_allowed("http://localhost:3000", patterns)
    assert origin_allowed("http://127.0.0.1:8080", patterns)
    assert parse_domain(None) == ((), ())
    assert parse_domain(SEED)[1] == ()


def test_a_bare_ip_is_an_address_not_a_browser_origin() -> None:
    patterns, nets = parse_domain("127.0.0.1")
    assert patterns == () and nets == (ipaddress.ip_network("127.0.0.1/32"),)
    assert not origin_allowed("http://127.0.0.1", patterns)
    assert origin_allowed("http://127.0.0.1", parse_patterns("http://127.0.0.1"))


def test_stored_domains_give_their_valid_networks() -> None:
    assert domain_networks(SEED) == ()
    # a stored entry that is no longer valid is ignored, never an error at the token endpoint
    assert domain_networks("10.0.0.1/24 192.0.2.1 x.example") == (ipaddress.ip_network("192.0.2.1/32"),)


@pytest.mark.parametrize(("address", "inside"), [
    ("203.0.113.9", True), ("203.0.114.1", False), ("::ffff:203.0.113.9", True), ("2001:db8:1::5", True),
    ("2001:db9::1", False), ("::1", False), (None, False), ("", False), ("not-an-ip", False), ("fe80::1%eth0", False),
])
def test_address_in_networks(address: str | None, inside: bool) -> None:
    nets = domain_networks("203.0.113.0/24 2001:db8::/32")
    assert address_in(address, nets) is inside


def test_parse_ip_reads_ipv4_mapped_as_ipv4() -> None:
    assert parse_ip("::ffff:192.0.2.1") == ipaddress.ip_address("192.0.2.1")
    assert parse_ip("2001:db8::1") == ipaddress.ip_address("2001:db8::1")
    assert parse_ip(None) is None and parse_ip("x") is None


# ---- the client behind proxies: walk X-Forwarded-For from the right ------------------------------------------


def test_an_untrusted_peer_is_the_client_whatever_it_sends() -> None:
    assert forwarded_client("198.51.100.1", ["203.0.113.7"], PROXY) == "198.51.100.1"
    assert forwarded_client("198.51.100.1", ["203.0.113.7"], ()) == "198.51.100.1"
    assert forwarded_client("10.0.0.5", ["203.0.113.7"], ()) == "10.0.0.5"  # no trusted proxies: never read


def test_a_trusted_peer_names_the_right_most_untrusted_hop() -> None:
    assert forwarded_client("10.0.0.5", ["203.0.113.7"], PROXY) == "203.0.113.7"
    # the client wrote "6.6.6.6" itself; the proxy appended what it saw
    assert forwarded_client("10.0.0.5", ["6.6.6.6, 203.0.113.7"], PROXY) == "203.0.113.7"
    # two trusted hops: 10.0.0.9 forwarded to 10.0.0.5
    assert forwarded_client("10.0.0.5", ["6.6.6.6, 203.0.113.7, 10.0.0.9"], PROXY) == "203.0.113.7"
    # several headers are one list, in the order received (RFC 9110 §5.3)
    assert forwarded_client("10.0.0.5", ["6.6.6.6", "203.0.113.7,10.0.0.9"], PROXY) == "203.0.113.7"


def test_every_hop_trusted_gives_the_left_most() -> None:
    assert forwarded_client("10.0.0.5", ["10.1.1.1, 10.0.0.9"], PROXY) == "10.1.1.1"


def test_a_trusted_peer_without_the_header_is_the_client() -> None:
    assert forwarded_client("10.0.0.5", [], PROXY) == "10.0.0.5"


@pytest.mark.parametrize("header", ["unknown", "203.0.113.7, unknown", "", "203.0.113.7,", "x" * 9000,
                                    "[2001:db8::1", "[2001:db8::1]x", "203.0.113.7:port", "host:80", "300.1.1.1",
                                    "fe80::1%eth0"])
def test_a_malformed_header_gives_the_peer(header: str) -> None:
    assert forwarded_client("10.0.0.5", [header], PROXY) == "10.0.0.5"


def test_a_malformed_hop_left_of_the_client_is_never_reached() -> None:
    assert forwarded_client("10.0.0.5", ["garbage, 203.0.113.7"], PROXY) == "203.0.113.7"


@pytest.mark.parametrize(("header", "client"), [
    ("2001:db8::7", "2001:db8::7"), ("[2001:db8::7]", "2001:db8::7"), ("[2001:db8::7]:4711", "2001:db8::7"),
    ("203.0.113.7:4711", "203.0.113.7"), ("::ffff:203.0.113.7", "203.0.113.7"), (" 203.0.113.7 ", "203.0.113.7"),
    ("2001:DB8::7", "2001:db8::7"),
])
def test_hops_in_every_written_form(header: str, client: str) -> None:
    assert forwarded_client("10.0.0.5", [header], PROXY) == client


def test_ipv6_and_ipv4_mapped_proxies() -> None:
    assert forwarded_client("::1", ["203.0.113.7"], PROXY) == "203.0.113.7"
    assert forwarded_client("::ffff:10.0.0.5", ["203.0.113.7"], PROXY) == "203.0.113.7"
    assert forwarded_client(None, ["203.0.113.7"], PROXY) is None
    assert forwarded_client("not-an-ip", ["203.0.113.7"], PROXY) == "not-an-ip"


@given(st.lists(st.text(max_size=40), max_size=5))
def test_walking_never_raises_and_always_names_an_address(values: list[str]) -> None:
    found = forwarded_client("10.0.0.5", values, PROXY)
    assert found is not None
    assert parse_ip(found) is not None
