"""One locator per site, fed by every ingest process: leadership, the relay, and the feed that joins them."""

import math
import time
import uuid

import pytest
from channels.layers import InMemoryChannelLayer
from django.db import connection

from locator.feed import SightingsFeed
from locator.leadership import Leadership
from locator.models import CurrentLocation, Tag
from locator.relay import SightingsRelay, channel_name, decode, encode
from sensors.ingest.pipeline import Sightings
from sensors.models import IngestCounter
from tests.locator.test_live import GATEWAYS, sightings_for

pytestmark = pytest.mark.django_db


class Follower:
    """Leadership held by another process (what ``Leadership.check`` says when the lock is taken)."""

    contested = True

    def check(self):
        return False

    def release(self):
        pass


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def test_sightings_survive_the_wire_format():
    s = Sightings.of(sightings_for(7, 2.0, 2.0, 1_800_000_000.25, seconds=1))
    back = decode(encode(s))
    assert (back.t, back.gateway_id, back.tag_pk, back.rssi) == (s.t, s.gateway_id, s.tag_pk, s.rssi)
    with pytest.raises(ValueError, match="not a sightings message"):
        decode({"type": "floor.update"})
    bad = encode(s)
    bad["gateways"] = bad["gateways"][:1]
    with pytest.raises(ValueError, match="gateway index out of range"):
        decode(bad)


def test_channel_names_are_valid_and_per_database_and_site():
    assert channel_name("+", "hospital") == "locator.sightings.hospital.all"
    assert channel_name("st-mary's", "/var/db.sqlite3") == "locator.sightings._var_db.sqlite3.st-mary_s"
    assert channel_name("a", "x") != channel_name("b", "x") != channel_name("a", "y")


def test_a_followers_sightings_reach_the_leaders_locator(gateway_factory):
    for gw, (x, y) in GATEWAYS.items():
        gateway_factory(gw, x=x, y=y)
    near, far = (Tag.objects.create(tag_id=f"mac:AA:00:00:00:00:0{i}", kind="mac") for i in (1, 2))
    layer = InMemoryChannelLayer()
    leader_relay = SightingsRelay(layer, "locator.sightings.test")
    # The in-memory layer works within one event loop: both relays share one here (Redis joins processes).
    follower_relay = SightingsRelay(layer, "locator.sightings.test", loop=leader_relay.loop)
    leader = SightingsFeed("tst", leadership=Leadership("locator:test-leader", alias="default"), relay=leader_relay)
    follower = SightingsFeed("tst", leadership=Follower(), relay=follower_relay)
    try:
        if leader.leadership.contested:  # PostgreSQL: take the real lock for this test
            assert leader.leading
        assert not follower.leading and follower.locator is None  # a follower runs no locator
        t0 = time.time() - 4
        leader.add(sightings_for(near.pk, 2.0, 2.0, t0))  # the leader's own chunk
        follower.add(Sightings.of(sightings_for(far.pk, 8.0, 2.0, t0)))  # another process's chunk
        wait_for(lambda: len(leader_relay.inbox) == 1)
        assert leader.tick(t0 + 4) == 2
        places = {loc.tag_id: (loc.room.number, loc.x, loc.y) for loc in CurrentLocation.objects.select_related("room")}
        assert places[near.pk][0] == "1-01" and places[far.pk][0] == "1-02"
        assert math.hypot(places[far.pk][1] - 8.0, places[far.pk][2] - 2.0) < 1.5
        assert follower_relay.counts["sent"] == leader_relay.counts["received"] == len(GATEWAYS) * 8
        follower.tick()
        leader.tick(t0 + 5)
        counters = dict(IngestCounter.objects.filter(name__startswith="locator.relay.").values_list("name", "value"))
        assert counters == {"locator.relay.sent": 40, "locator.relay.received": 40}
    finally:
        follower.close()
        leader.close()


def test_a_follower_without_a_relay_counts_what_it_cannot_deliver(gateway_factory):
    follower = SightingsFeed("tst", leadership=Follower(), relay=None)
    follower.add(Sightings.of(sightings_for(1, 2.0, 2.0, time.time())))
    follower.tick()
    assert IngestCounter.objects.get(name="locator.relay.dropped_no_relay").value == len(GATEWAYS) * 8


@pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks are PostgreSQL's (SQLite: one process, always the leader)")
def test_one_leader_per_site_and_takeover_when_it_goes():
    site, other = f"locator:x-{uuid.uuid4().hex}", f"locator:y-{uuid.uuid4().hex}"
    a, b, other_site = Leadership(site), Leadership(site), Leadership(other)
    try:
        assert a.check() and not b.check() and other_site.check()
        assert a.check() and not b.check()  # keeps it
        a.release()  # as when its process dies: the connection, and the lock with it, are gone
        assert b.check() and not a.check()
    finally:
        for lead in (a, b, other_site):
            lead.release()


@pytest.mark.skipif(connection.vendor == "postgresql", reason="on PostgreSQL the lead is contested")
def test_alone_on_sqlite_every_process_leads():
    lead = Leadership("locator:x")
    assert not lead.contested and lead.check()
