"""Link conditions: what a `tc:` mapping may say, how conditions combine, what a path through the lab adds up to."""

from __future__ import annotations

import pytest

from lab.conditions import (
    NONE,
    ConditionError,
    Conditions,
    add,
    crossing,
    from_json,
    override,
    parse,
    parse_assignments,
    round_trip_delay,
    shaping,
    to_json,
    total,
)


def test_a_mapping_of_netlab_keys_in_netlab_units_is_read_as_numbers() -> None:
    given = parse({"delay": 80, "jitter": 5, "loss": 2.5, "corrupt": 1, "duplicate": 1, "reorder": 25,
                   "rate": 10000}, "networks.lanb.tc")
    assert given == Conditions(delay=80, jitter=5, loss=2.5, corrupt=1, duplicate=1, reorder=25, rate=10000)
    assert given.describe() == ("delay 80 ms, jitter 5 ms, loss 2.5 %, corrupt 1 %, duplicate 1 %, reorder 25 %, "
                                "rate 10000 kbit/s")


def test_zero_or_absent_means_none() -> None:
    assert parse(None, "networks.lan.tc") == NONE
    assert parse({}, "networks.lan.tc") == NONE
    assert not parse({"delay": 0, "loss": 0}, "networks.lan.tc")
    assert NONE.describe() == "none"
    assert to_json(parse({"delay": 0, "loss": 3}, "x")) == {"loss": 3.0}


@pytest.mark.parametrize(("value", "message"), [
    ({"latency": 5}, "networks.lanb.tc: unknown condition 'latency' (known: delay, jitter, loss, corrupt, "
                     "duplicate, reorder, rate)"),
    ({"delay": -1}, "networks.lanb.tc.delay: -1 is negative or not finite: give 0 or more (ms)"),
    ({"loss": 101}, "networks.lanb.tc.loss: 101 % is over 100 %"),
    ({"duplicate": 100.5}, "networks.lanb.tc.duplicate: 100.5 % is over 100 %"),
    ({"jitter": 5}, "networks.lanb.tc.jitter: jitter needs delay (give delay too)"),
    ({"reorder": 25, "delay": 0}, "networks.lanb.tc.reorder: reorder needs delay (give delay too)"),
    ({"delay": "80ms"}, "networks.lanb.tc.delay: must be a number (ms), not a string"),
    ({"rate": True}, "networks.lanb.tc.rate: must be a number (kbit/s), not true/false"),
    ({"loss": float("nan")}, "networks.lanb.tc.loss: nan is negative or not finite: give 0 or more (%)"),
    ([80], "networks.lanb.tc: must be a mapping of conditions (delay, jitter, loss, corrupt, duplicate, reorder, "
           "rate), not a list"),
])
def test_a_bad_value_is_one_line_naming_the_key_path_and_the_problem(value: object, message: str) -> None:
    with pytest.raises(ConditionError) as raised:
        parse(value, "networks.lanb.tc")
    assert str(raised.value) == message
    assert "\n" not in str(raised.value)


def test_runtime_assignments_are_checked_like_the_file() -> None:
    assert parse_assignments(["delay=80", "loss=2"], "lanb") == {"delay": 80.0, "loss": 2.0}
    for words, message in ((["delay=abc"], "lanb.delay: must be a number (ms), not a string"),
                           (["loss"], "lanb: 'loss' is not KEY=VALUE (keys: delay, jitter, loss, corrupt, "
                                      "duplicate, reorder, rate)"),
                           (["loss=200"], "lanb.loss: 200 % is over 100 %"),
                           ([], "lanb: give at least one KEY=VALUE (keys: delay, jitter, loss, corrupt, duplicate, "
                                "reorder, rate)")):
        with pytest.raises(ConditionError) as raised:
            parse_assignments(words, "lanb")
        assert str(raised.value) == message


def test_a_runtime_change_replaces_only_its_keys_and_is_checked_as_a_whole() -> None:
    base = Conditions(delay=20, jitter=2, loss=1)
    assert override(base, {"loss": 100}, "lanb") == Conditions(delay=20, jitter=2, loss=100)
    with pytest.raises(ConditionError, match=r"^lanb\.jitter: jitter needs delay"):
        override(base, {"delay": 0}, "lanb")


def test_conditions_in_a_row_add_up_delays_combine_chances_and_keep_the_slower_rate() -> None:
    both = add(Conditions(delay=10, loss=10, rate=1000), Conditions(delay=30, jitter=2, loss=10, rate=500))
    assert both.delay == 40 and both.jitter == 2 and both.rate == 500
    assert both.loss == pytest.approx(19.0)
    assert add(Conditions(rate=1000), NONE).rate == 1000
    assert total([Conditions(delay=1)] * 3).delay == 3
    assert add(Conditions(loss=100), Conditions(loss=5)).loss == 100


def test_a_network_goes_on_every_egress_and_a_hosts_own_conditions_go_both_ways() -> None:
    network, own = Conditions(delay=40, loss=1), Conditions(delay=5, rate=2000)
    plain = shaping(network, NONE)
    assert plain.egress == network and not plain.ingress
    client = shaping(network, own)
    assert client.egress == add(network, own) and client.ingress == own


def test_a_ping_across_one_network_with_delay_d_shows_two_d() -> None:
    lan = Conditions(delay=40)
    there, back = crossing(lan), crossing(lan)
    assert round_trip_delay([there], [back]) == 80


def test_a_hosts_own_delay_adds_to_its_packets_both_ways() -> None:
    lan, own = Conditions(delay=40), Conditions(delay=5)
    # client (own 5 ms) -> server, and back
    assert round_trip_delay([crossing(lan, sender=own)], [crossing(lan, receiver=own)]) == 90


def test_through_a_router_the_networks_crossed_add_up() -> None:
    lana, lanb = Conditions(delay=10, loss=1), Conditions(delay=30, loss=1)
    forward = [crossing(lanb), crossing(lana)]  # client -> router -> server
    back = [crossing(lana), crossing(lanb)]
    assert round_trip_delay(forward, back) == 80
    assert total(forward).loss == pytest.approx(100 * (1 - 0.99 ** 2))


def test_json_keeps_the_keys_in_force() -> None:
    given = Conditions(delay=80, loss=2)
    assert from_json(to_json(given)) == given
    assert from_json(None) == NONE
