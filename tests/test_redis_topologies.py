"""More than one Redis: REDIS_URL's forms, groups sharded over two Redis, a Sentinel failover.

The parser is tested on its own (realtime_site/redis_hosts.py) and through the settings; the
topologies with real workers on private Redis servers: edits cross workers whichever shard a
document's group lands on, a shard away makes every worker not ready until it is back, and a
Sentinel failover (SIGKILL of the master) resumes editing with every acknowledged edit kept once.
"""

import asyncio
import json
import re
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest
import redis.asyncio
from channels.layers import InMemoryChannelLayer
from channels_redis.utils import _consistent_hash

from editor import ot
from editor.live.hub import document_group, shard_probes
from editor.live.redis_layer import RedisPubSubLayer
from realtime_site.redis_hosts import parse_redis_url
from tests.documents import aread_document
from tests.livetab import LiveTab
from tests.servers import RedisSentinel, RedisServer, ReplicatedRedis, ServerProcess, wait_until
from tests.test_settings import load_settings


def multiprocess(test):
    """Real workers and the test database they write, like tests/test_multiprocess.py."""
    return pytest.mark.multiprocess(pytest.mark.django_db(transaction=True)(test))


# REDIS_URL, parsed


@pytest.mark.parametrize(
    ("value", "hosts"),
    [
        ("redis://127.0.0.1:6379/0", ["redis://127.0.0.1:6379/0"]),
        ("rediss://:secret@redis.example:6380", ["rediss://:secret@redis.example:6380"]),
        ("redis://h:1/15?socket_timeout=3", ["redis://h:1/15?socket_timeout=3"]),
        ("redis://h:65535", ["redis://h:65535"]),
        ("redis://[::1]:6379/", ["redis://[::1]:6379/"]),
        ("unix:///run/redis.sock", ["unix:///run/redis.sock"]),
        ("redis://a:6379/0,redis://b:6379/0", ["redis://a:6379/0", "redis://b:6379/0"]),
        (" redis://a , redis://b ", ["redis://a", "redis://b"]),
        (
            "redis+sentinel://s1:26379,s2:26380,s3/mymaster/2",
            [
                {
                    "sentinels": [("s1", 26379), ("s2", 26380), ("s3", 26379)],
                    "master_name": "mymaster",
                    "db": 2,
                }
            ],
        ),
        ("redis+sentinel://s1/m", [{"sentinels": [("s1", 26379)], "master_name": "m", "db": 0}]),
        (
            "redis+sentinel://user:p%2Cw@s1:1/m?sentinel_password=sp",
            [
                {
                    "sentinels": [("s1", 1)],
                    "master_name": "m",
                    "db": 0,
                    "username": "user",
                    "password": "p,w",
                    "sentinel_kwargs": {"password": "sp"},
                }
            ],
        ),
        (
            "redis+sentinel://s1,s2/a,redis+sentinel://s3/b,redis://c",
            [
                {"sentinels": [("s1", 26379), ("s2", 26379)], "master_name": "a", "db": 0},
                {"sentinels": [("s3", 26379)], "master_name": "b", "db": 0},
                "redis://c",
            ],
        ),
    ],
)
def test_redis_url_forms_are_read_into_channel_layer_hosts(value, hosts):
    assert parse_redis_url(value) == hosts


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("redis://h:65536", "the port must be from 1 to 65535, not '65536'"),
        ("redis://h:0", "the port must be from 1 to 65535, not '0'"),
        ("redis://h/x", "the database must be a number, not 'x'"),
        ("redis://h/1/2", "the database must be a number, not '1/2'"),
        ("redis://", "names no host"),
        ("redis://:secret@", "'redis://:***@' names no host"),
        ("http://h:6379", "the scheme must be redis, rediss, unix or redis+sentinel, not 'http'"),
        ("127.0.0.1:6379", "has no scheme"),
        ("unix://", "names no socket path"),
        ("redis://a,b:6379", "lists several hosts: write each shard as its own URL"),
        ("redis://a,", "an empty item in the list"),
        ("redis://a,,redis://b", "an empty item in the list"),
        ("redis://a,redis://a", "'redis://a' is listed twice"),
        ("redis://[::1", "Invalid IPv6 URL"),
        ("redis+sentinel://s1", "names no master"),
        ("redis+sentinel://s1/", "names no master"),
        ("redis+sentinel:///m", "names no Sentinel"),
        ("redis+sentinel://s1,/m", "'' is not host or host:port"),
        ("redis+sentinel://s1:65536/m", "the port must be from 1 to 65535, not '65536'"),
        ("redis+sentinel://s1/m/1/2", "the database must be a number, not '1/2'"),
        ("redis+sentinel://s1/m?socket_timeout=1", "unknown option 'socket_timeout'"),
        ("redis+sentinel://s1/m?sentinel_password=hush&x", "***"),
    ],
)
def test_a_malformed_redis_url_is_refused_naming_what_is_wrong(value, message):
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        parse_redis_url(value)
    assert "secret" not in str(refused.value)
    assert "hush" not in str(refused.value)


def test_settings_shard_groups_over_every_listed_redis_and_follow_a_sentinel():
    values = json.loads(load_settings(REDIS_URL="redis://a:6379/0, redis://b:6379/0").stdout)
    assert values["layer_config"]["hosts"] == ["redis://a:6379/0", "redis://b:6379/0"]
    values = json.loads(load_settings(REDIS_URL="redis+sentinel://:pw@s1,s2:26380/mymaster").stdout)
    assert values["layer_config"]["hosts"] == [
        {"sentinels": [["s1", 26379], ["s2", 26380]], "master_name": "mymaster", "db": 0, "password": "pw"}
    ]


def test_settings_refuse_a_malformed_redis_url_at_startup():
    result = load_settings(REDIS_URL="redis://a:6379,redis://b:99999")
    assert result.returncode != 0
    assert (
        "ImproperlyConfigured: REDIS_URL: 'redis://b:99999': the port must be from 1 to 65535"
        in result.stderr
    )


# Two shards


@pytest.mark.parametrize("shards", [1, 2, 3, 5])
async def test_a_hub_probes_every_shard_with_a_group_of_its_own(shards):
    """Where channels-redis' own hash puts them: one probe group on each shard, in shard order."""
    layer = RedisPubSubLayer(hosts=[f"redis://127.0.0.1:{1 + n}" for n in range(shards)], prefix="p")
    probes = shard_probes(layer, "phub.0123abcd")  # no connection is made
    assert len(probes) == (shards if shards > 1 else 0)
    assert [_consistent_hash(f"p__group__{group}", shards) for group in probes] == list(range(len(probes)))
    assert shard_probes(InMemoryChannelLayer(), "hub.0123abcd") == []


def group_channel(prefix: str, slug: str) -> str:
    """The Redis channel of a document's group: channels-redis' pub/sub naming."""
    return f"{prefix}__group__{document_group(slug)}"


def slug_on_shard(prefix: str, shard: int, shards: int, stem: str) -> str:
    """The first ``stem-N`` whose group channels-redis' own hash puts on ``shard``."""
    return next(
        f"{stem}-{n}"
        for n in range(1000)
        if _consistent_hash(group_channel(prefix, f"{stem}-{n}"), shards) == shard
    )


def readyz(server: ServerProcess) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{server.http_url}/readyz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def eventually(condition, *, what: str, within: float = 10) -> None:
    """wait_until, off the event loop (the tabs read their sockets meanwhile)."""
    await asyncio.to_thread(wait_until, condition, timeout=within, what=what)


class ShardListener:
    """Subscribed, on every shard, to the group channels of some documents: counts what each
    shard carried on each, so a test sees where a document's broadcasts really went."""

    def __init__(self, shards: list[RedisServer], channels: list[str]) -> None:
        self.clients = [redis.asyncio.Redis(port=shard.port) for shard in shards]
        self.channels = channels
        self.carried: Counter = Counter()  # (shard index, channel) -> messages
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> "ShardListener":
        for index, client in enumerate(self.clients):
            pubsub = client.pubsub()
            await pubsub.subscribe(*self.channels)
            self._tasks.append(asyncio.create_task(self._count(index, pubsub)))
        return self

    async def _count(self, index: int, pubsub) -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                self.carried[index, message["channel"].decode()] += 1

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in self.clients:
            await client.aclose()


@pytest.fixture
def private_servers():
    """Private Redis servers (and Sentinels), each stopped after the test, even one that failed to start."""
    started = []

    def start(server, **options):
        started.append(server)
        return server.start(**options)

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def two_shards(tmp_path, private_servers) -> list[RedisServer]:
    return [private_servers(RedisServer(tmp_path)), private_servers(RedisServer(tmp_path))]


async def start_workers(start_worker, url: str, *names: str) -> list[ServerProcess]:
    return list(
        await asyncio.gather(*(asyncio.to_thread(start_worker, name, REDIS_URL=url) for name in names))
    )


async def crosses(typist: LiveTab, reader: LiveTab, text: str) -> None:
    """``text`` typed at the end on one tab shows on the other (through the channel layer: a reader
    that types nothing has no other way to hear of it before its next ping, 25 s later)."""
    await typist.insert(len(typist.text), text)
    await reader.wait_for(lambda: reader.text == typist.text, what=f"{text!r} on {reader.name}")


@multiprocess
async def test_edits_cross_workers_whichever_shard_a_documents_group_lands_on(
    two_shards, start_worker, worker_env
):
    prefix = worker_env["REDIS_PREFIX"]
    slugs = [slug_on_shard(prefix, shard, 2, "sharded") for shard in (0, 1)]
    channels = [group_channel(prefix, slug) for slug in slugs]
    listener = await ShardListener(two_shards, channels).start()
    worker_a, worker_b = await start_workers(start_worker, ",".join(s.url for s in two_shards), "a", "b")
    tabs = {}
    for slug in slugs:
        tabs[slug] = LiveTab(worker_a.ws_url, slug, "on-a"), LiveTab(worker_b.ws_url, slug, "on-b")
        for tab in tabs[slug]:
            await tab.connect()

    for slug in slugs:
        on_a, on_b = tabs[slug]
        await crosses(on_a, on_b, f"from A to {slug}")
        await crosses(on_b, on_a, ", from B")
        assert await aread_document(slug) == (2, f"from A to {slug}, from B")

    for shard, (slug, channel) in enumerate(zip(slugs, channels, strict=True)):
        # Both workers hear the document's group on its shard, and only there.
        numsub = [dict(await client.pubsub_numsub(channel))[channel.encode()] for client in listener.clients]
        assert numsub[shard] == 3  # the two workers and the listener
        assert numsub[1 - shard] == 1  # the listener
        await eventually(lambda c=channel, s=shard: listener.carried[s, c] >= 2, what=f"{slug}'s broadcasts")
        assert listener.carried[1 - shard, channel] == 0
    for client in listener.clients:  # every worker's hub checks every shard
        assert len(await client.pubsub_channels(f"{prefix}__group__hub-probe.*")) == 2
    for on_a, on_b in tabs.values():
        assert [f for f in on_a.frames + on_b.frames if f["type"] in ("error", "relay")] == []
        await on_a.close()
        await on_b.close()
    await listener.stop()


@multiprocess
async def test_one_shard_away_makes_every_worker_not_ready_until_it_is_back(
    two_shards, start_worker, worker_env
):
    prefix = worker_env["REDIS_PREFIX"]
    on_up, on_away = (slug_on_shard(prefix, shard, 2, "outage") for shard in (0, 1))
    workers = await start_workers(start_worker, ",".join(s.url for s in two_shards), "a", "b")
    tabs = {
        slug: (LiveTab(workers[0].ws_url, slug, "a"), LiveTab(workers[1].ws_url, slug, "b"))
        for slug in (on_up, on_away)
    }
    for pair in tabs.values():
        for tab in pair:
            await tab.connect()
    assert [readyz(worker)[0] for worker in workers] == [200, 200]

    await asyncio.to_thread(two_shards[1].stop)
    away = f"127.0.0.1:{two_shards[1].port}"
    for worker in workers:
        # Its first check may find a connection closed; the next ones, the shard refusing.
        await eventually(
            lambda worker=worker: away in readyz(worker)[1]["checks"]["channel_layer"],
            what=f"{worker.name} not ready, naming the shard away",
        )
        status, body = readyz(worker)
        assert (status, body["checks"]["database"]) == (503, "ok")
    everyone = [tab for pair in tabs.values() for tab in pair]
    for tab in everyone:
        await tab.wait_for(lambda tab=tab: {"type": "relay", "ok": False} in tab.frames, what="relay away")
    # The document on the shard still up still crosses; the other's edits commit, unheard.
    await crosses(*tabs[on_up], "still here")
    await tabs[on_away][0].insert(0, "meanwhile ")
    await tabs[on_away][0].wait_synchronised()

    await asyncio.to_thread(two_shards[1].start)
    for worker in workers:
        await eventually(lambda worker=worker: readyz(worker)[0] == 200, what=f"{worker.name} ready again")
    for tab in everyone:
        await tab.wait_for(lambda tab=tab: {"type": "relay", "ok": True} in tab.frames, what="relay back")
    reader = tabs[on_away][1]
    await reader.wait_for(lambda: reader.text == "meanwhile ", what="the edit made while its shard was away")
    await crosses(*tabs[on_away], "and after")
    await crosses(*reversed(tabs[on_away]), ", both ways")
    assert await aread_document(on_away) == (3, "meanwhile and after, both ways")
    for tab in everyone:
        assert [f for f in tab.frames if f["type"] == "error"] == []
        await tab.close()


# Sentinel


class Typist:
    """Types one unique character (and some filler dots, which it may delete) at a time, so that
    every keystroke can be counted in the final text; remembers when it typed each."""

    def __init__(self, tab: LiveTab, index: int) -> None:
        self.tab = tab
        self.next_char = 0x4E00 + index * 0x400
        self.typed: dict[str, float] = {}  # character -> time.monotonic() when typed

    async def type_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            text = self.tab.text
            if text.endswith(".") and len(self.typed) % 3 == 0:
                await self.tab.edit(ot.normalize([len(text) - 1, -1]))
            else:
                char = chr(self.next_char)
                self.next_char += 1
                self.typed[char] = time.monotonic()
                position = (len(self.typed) * 7) % (len(text) + 1)
                await self.tab.edit(ot.normalize([position, char + ".", len(text) - position]))
            await asyncio.sleep(0.03)  # typing speed (within the edit rate limit), not synchronisation


@pytest.fixture
def sentinel_set(tmp_path, private_servers) -> tuple[ReplicatedRedis, ReplicatedRedis, RedisSentinel]:
    master = private_servers(ReplicatedRedis(tmp_path))
    replica = private_servers(ReplicatedRedis(tmp_path, replica_of=master))
    return master, replica, private_servers(RedisSentinel(tmp_path, master))


@multiprocess
async def test_a_sentinel_failover_resumes_editing_with_every_acknowledged_edit_kept_once(
    sentinel_set, start_worker
):
    """Four tabs type on workers A and B through a SIGKILL of the master. An idle tab on worker C,
    which has no typing of its own (so no revision gap to fetch), hears of edits only through
    Redis: the broadcasts, or the head its worker tells it when the relay is back."""
    master, replica, sentinel = sentinel_set
    workers = await start_workers(start_worker, sentinel.url, "a", "b", "c")
    slug = "failover"
    typing = [LiveTab(workers[i % 2].ws_url, slug, f"typist{i}") for i in range(4)]
    idle = LiveTab(workers[2].ws_url, slug, "idle")
    everyone = [*typing, idle]
    for tab in everyone:
        await tab.connect()
    typists = [Typist(tab, i) for i, tab in enumerate(typing)]
    stop = asyncio.Event()
    typing_tasks = [asyncio.create_task(typist.type_until(stop)) for typist in typists]
    for tab in typing:
        await tab.wait_for(lambda tab=tab: len(tab.acks()) >= 10, what="typing before the failover")
    await idle.wait_for(lambda: len(idle.text) >= 40, what="the typing on the idle tab")

    acks_before = sum(len(tab.acks()) for tab in typing)
    await asyncio.to_thread(master.kill)
    killed = time.monotonic()  # the master is gone: nothing typed from now on went through it

    def typed_since_kill() -> list[str]:
        return [char for typist in typists for char, at in list(typist.typed.items()) if at > killed]

    resumed: list[float] = []
    heard = asyncio.create_task(
        idle.wait_for(
            lambda: any(c in idle.text for c in typed_since_kill()), what="typing since", timeout=30
        )
    )
    heard.add_done_callback(lambda _: resumed.append(time.monotonic()))
    for tab in everyone:
        await tab.wait_for(lambda tab=tab: {"type": "relay", "ok": False} in tab.frames, what="relay away")
    await eventually(lambda: sentinel.master_port() == replica.port, what="the replica promoted", within=15)
    promoted = time.monotonic()
    acked_without_master = sum(len(tab.acks()) for tab in typing) - acks_before
    for tab in everyone:
        await tab.wait_for(lambda tab=tab: {"type": "relay", "ok": True} in tab.frames, what="relay back")
    relayed = time.monotonic()
    await heard
    print(
        f"SIGKILL of the master -> replica promoted {promoted - killed:.2f} s, relay back on every tab "
        f"{relayed - killed:.2f} s, the idle tab has typing made since {resumed[0] - killed:.2f} s; "
        f"{acked_without_master} edits acknowledged before the promotion"
    )
    assert acked_without_master > 0, "typing goes on while there is no master (the database orders it)"
    assert resumed[0] - promoted < 3, "the idle tab catches up within seconds of the promotion"
    for tab in typing:
        count = len(tab.acks())
        await tab.wait_for(lambda tab=tab, count=count: len(tab.acks()) >= count + 5, what="typing after")
    stop.set()
    await asyncio.gather(*typing_tasks)

    for tab in everyone:
        await tab.wait_synchronised()
    rev, text = await aread_document(slug)
    for tab in everyone:
        await tab.wait_synchronised(rev=rev)
        assert tab.text == text
    typed = [char for typist in typists for char in typist.typed]
    assert not [char for char in typed if text.count(char) != 1], "keystrokes lost or duplicated"
    assert [f for tab in everyone for f in tab.frames if f["type"] == "error"] == []
    assert "+switch-master" in sentinel.log()
    for tab in everyone:
        await tab.close()
