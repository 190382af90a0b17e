"""channels-redis' pub/sub layer, back within a tenth of a second of its Redis, and calm
about an outage.

The library's receive loop (``RedisSingleShardConnection._do_receiving``, channels-redis
4.3.0, pinned) logs every error with a traceback and sleeps a whole second before it reads
again, so a Redis that is away fills the log with a traceback a second, and one that is back
is heard up to a second late: the hubs' check of the relay (live/hub.py) waits on it, and
with it the idle clients that missed what was published meanwhile. Here the loop is the
library's, except that a lost connection is one warning when it goes and one line when it
is back, and it is tried again every ``RETRY_SECONDS``: redis-py's pub/sub reconnects and
subscribes again, under the shard's lock, so that a ``group_add`` reconnecting the same
connection at that moment (the library's ``subscribe``) waits instead of racing it.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from channels_redis import pubsub
from channels_redis.utils import _wrap_close

logger = logging.getLogger(__name__)

RETRY_SECONDS = 0.1  # as often as the library looks for messages when nothing is subscribed


class Shard(pubsub.RedisSingleShardConnection):
    def __init__(self, host: dict, channel_layer) -> None:
        super().__init__(host, channel_layer)
        self.name = shard_name(host)

    async def _do_receiving(self) -> None:
        away = False
        while True:
            try:
                if away and self._pubsub is not None:
                    async with self._lock:
                        await self._pubsub.connect()  # and its callback subscribes again
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (TimeoutError, asyncio.CancelledError, GeneratorExit):
                raise
            except Exception as error:
                if not away:
                    away = True
                    logger.warning(
                        "Redis %s is away (%s); reading again every %g s", self.name, error, RETRY_SECONDS
                    )
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if away:
                away = False
                logger.info("Redis %s is back", self.name)


def shard_name(host: dict) -> str:
    """A shard's address for the log, without its password."""
    if "sentinels" in host:
        sentinels = ",".join(f"{address}:{port}" for address, port in host["sentinels"])
        return f"{host.get('master_name')} (sentinels {sentinels})"
    if "address" not in host:
        return f"{host.get('host')}:{host.get('port')}"
    url = urlsplit(str(host["address"]))
    return f"{url.hostname}:{url.port or 6379}{url.path}" if url.hostname else url.path


class LoopLayer(pubsub.RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Made, not connected: each connects on its first use.
        self._shards = [Shard(shard.host, self) for shard in self._shards]


class RedisPubSubLayer(pubsub.RedisPubSubChannelLayer):
    """The layer to name in CHANNEL_LAYERS; configured as channels-redis' own."""

    def _get_layer(self) -> LoopLayer:
        # The library's, making a LoopLayer (one per event loop).
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]
        except KeyError:
            layer = self._layers[loop] = LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
            return layer
