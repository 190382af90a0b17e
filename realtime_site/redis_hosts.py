"""``REDIS_URL`` read into the channel layer's ``hosts``: one Redis, several shards, or Sentinel.

Pure parsing (no Django, no network), called by settings.py, which turns a
``ValueError`` into ``ImproperlyConfigured`` at startup. The forms:

- ``redis://[[user]:password@]host[:port][/db]`` (``rediss://`` for TLS,
  ``unix:///path/to/socket``): one Redis, passed to channels-redis as it is
  (query options such as ``?socket_timeout=`` included).
- Several of those (or of the Sentinel form below), comma-separated: one
  shard each. channels-redis places each group (one per document) and each
  channel on one shard by a hash of its name modulo the number of shards, so
  every worker must list the same shards **in the same order**, and adding
  or removing one moves groups: restart every worker with the new list.
- ``redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/MASTER_NAME[/db]``:
  the master that these Sentinels (default port 26379) name ``MASTER_NAME``,
  found again after a failover. The password is the master's (and its
  replicas'); Sentinels that want one of their own get
  ``?sentinel_password=...``. The form of the ``redis-sentinel-url`` package
  and of several job queues; no TLS form.

Within a list, a comma followed by ``scheme://`` starts the next shard; other
commas separate a Sentinel URL's hosts. A comma inside a password is written
``%2C``. Redis pub/sub ignores database numbers (``db`` is accepted and has no
effect on the pub/sub layer): deployments sharing a Redis keep apart by REDIS_PREFIX.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
PLAIN_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_OPTIONS = ("sentinel_password",)

# A comma that starts the next URL: followed by a scheme and "://".
_NEXT_URL = re.compile(r",\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\[\]/@]+)(?::(?P<port>[^:]*))?$")


def parse_redis_url(value: str) -> list[str | dict]:
    """The channel layer's ``hosts`` for ``value``: a plain URL as it is, a Sentinel URL as the
    dict channels-redis' ``create_pool`` takes (``sentinels``, ``master_name``, ``db``, ...).
    Raises ValueError naming what is wrong."""
    items = [item.strip() for item in _NEXT_URL.split(value.strip())]
    if items == [""]:
        raise ValueError("empty")
    hosts: list[str | dict] = []
    for item in items:
        host = _shard(item)
        if host in hosts:
            raise ValueError(f"{_shown(item)} is listed twice (each shard once)")
        hosts.append(host)
    return hosts


def _shard(item: str) -> str | dict:
    if not item or item.endswith(","):
        raise ValueError("an empty item in the list (a comma too many?)")
    match = _SCHEME.match(item)
    if match is None:
        raise ValueError(f"{_shown(item)} has no scheme: write redis://host:port (or {SENTINEL_SCHEME}://)")
    scheme = match.group(1).lower()
    if scheme == SENTINEL_SCHEME:
        return _sentinel(item)
    if scheme not in PLAIN_SCHEMES:
        raise ValueError(
            f"{_shown(item)}: the scheme must be redis, rediss, unix or {SENTINEL_SCHEME}, not {scheme!r}"
        )
    parts = _split(item)
    if scheme == "unix":
        if not parts.path:
            raise ValueError(f"{_shown(item)} names no socket path")
        return item
    if "," in parts.netloc:
        raise ValueError(
            f"{_shown(item)} lists several hosts: write each shard as its own URL (redis://a,redis://b)"
        )
    if not parts.netloc.rpartition("@")[2]:
        raise ValueError(f"{_shown(item)} names no host")
    _host_port(parts.netloc.rpartition("@")[2], item, default=None)
    _db(parts.path.removeprefix("/"), item)
    return item


def _sentinel(item: str) -> dict:
    parts = _split(item)
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    if not hostlist:
        raise ValueError(f"{_shown(item)} names no Sentinel")
    sentinels = [_host_port(entry, item, default=SENTINEL_PORT) for entry in hostlist.split(",")]
    master_name, _, db = parts.path.removeprefix("/").partition("/")
    if not master_name:
        raise ValueError(f"{_shown(item)} names no master: {SENTINEL_SCHEME}://host:port/MASTER_NAME[/db]")
    host: dict = {"sentinels": sentinels, "master_name": unquote(master_name), "db": _db(db, item)}
    if userinfo:
        username, has_password, password = userinfo.partition(":")
        if username:
            host["username"] = unquote(username)
        if has_password:
            host["password"] = unquote(password)
    try:
        options = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as error:
        raise ValueError(f"{_shown(item)}: {error}") from None
    unknown = sorted(set(options) - set(SENTINEL_OPTIONS))
    if unknown:
        raise ValueError(
            f"{_shown(item)}: unknown option {unknown[0]!r} (known: {', '.join(SENTINEL_OPTIONS)})"
        )
    if "sentinel_password" in options:
        host["sentinel_kwargs"] = {"password": options["sentinel_password"][-1]}
    return host


def _split(item: str):
    try:
        return urlsplit(item)
    except ValueError as error:  # an unbalanced [ ] around an IPv6 address
        raise ValueError(f"{_shown(item)}: {error}") from None


def _host_port(entry: str, item: str, *, default: int | None) -> tuple[str, int | None]:
    match = _HOST_PORT.match(entry)
    if match is None:
        raise ValueError(f"{_shown(item)}: {entry!r} is not host or host:port")
    port = match["port"]
    if port is None:
        return match["host"].strip("[]"), default
    if not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"{_shown(item)}: the port must be from 1 to 65535, not {port!r}")
    return match["host"].strip("[]"), int(port)


def _db(text: str, item: str) -> int:
    if text == "":
        return 0
    if not text.isdigit():
        raise ValueError(f"{_shown(item)}: the database must be a number, not {text!r}")
    return int(text)


def _shown(item: str) -> str:
    """The item for a message, its passwords hidden."""
    item = re.sub(r"(://[^/@]*?:)[^/@]*@", r"\1***@", item, count=1)
    return repr(re.sub(r"(sentinel_password=)[^&]*", r"\1***", item))
