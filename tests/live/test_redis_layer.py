"""The pub/sub layer the workers run (editor/live/redis_layer.py) against a Redis of the test's
own, stopped and started: one warning for the outage, no traceback, and messages again within
a fraction of a second of Redis being back (channels-redis' own loop waits a second)."""

import asyncio
import logging
import time

import pytest
import redis

from editor.live.redis_layer import RETRY_SECONDS, RedisPubSubLayer, shard_name
from tests.servers import RedisServer


@pytest.fixture
def private_redis(tmp_path):
    redis = RedisServer(tmp_path).start()
    yield redis
    redis.stop()


async def test_an_outage_is_one_warning_and_messages_flow_again_soon_after_redis_is_back(
    private_redis, caplog
):
    layer = RedisPubSubLayer(hosts=[private_redis.url], prefix="layer-test")
    channel = await layer.new_channel("t.")
    await layer.group_add("g", channel)
    await layer.group_send("g", {"type": "before"})
    assert (await asyncio.wait_for(layer.receive(channel), 5))["type"] == "before"

    caplog.set_level(logging.INFO, logger="editor.live.redis_layer")
    await asyncio.to_thread(private_redis.stop)
    away = [r for r in caplog.records if "is away" in r.getMessage()]
    while not away:  # the receive loop's next read fails
        await asyncio.sleep(RETRY_SECONDS)
        away = [r for r in caplog.records if "is away" in r.getMessage()]
    await asyncio.sleep(10 * RETRY_SECONDS)  # ten more failed reads, the behaviour under test
    await asyncio.to_thread(private_redis.start)
    back = time.monotonic()

    async def delivered() -> float:
        while True:
            try:
                await layer.group_send("g", {"type": "after"})
                async with asyncio.timeout(0.05):
                    if (await layer.receive(channel))["type"] == "after":
                        return time.monotonic() - back
            except (TimeoutError, redis.exceptions.ConnectionError):  # not through yet: poll again
                await asyncio.sleep(0.01)

    elapsed = await asyncio.wait_for(delivered(), 5)
    print(f"Redis back -> a group message through the layer after {elapsed * 1000:.0f} ms")
    assert elapsed < 0.5, "the library's own loop would wait up to a second"
    records = [r for r in caplog.records if r.name == "editor.live.redis_layer"]
    assert [r.levelname for r in records] == ["WARNING", "INFO"]
    assert all(r.exc_info is None for r in records), "no traceback"
    assert f"Redis 127.0.0.1:{private_redis.port}/0 is away" in records[0].getMessage()
    assert records[1].getMessage() == f"Redis 127.0.0.1:{private_redis.port}/0 is back"
    await layer.flush()


def test_a_shard_is_named_without_its_password():
    assert shard_name({"address": "redis://:secret@cache:6379/2"}) == "cache:6379/2"
    assert shard_name({"address": "redis://cache"}) == "cache:6379"
    assert shard_name({"address": "unix:///run/redis.sock"}) == "/run/redis.sock"
    assert shard_name({"host": "cache", "port": 6380}) == "cache:6380"
    sentinel = {"sentinels": [("s1", 26379), ("s2", 26379)], "master_name": "main", "password": "x"}
    assert shard_name(sentinel) == "main (sentinels s1:26379,s2:26379)"
