"""This process's asyncio side: what every worker process runs on its event loop.

- ``worker``: the one lifecycle, starting and stopping the parts below;
- ``committer``: group commit of the edits waiting at one moment;
- ``hub``: this process's connections by document, the fan-out of edits and
  presence, and ``messages``, every channel-layer message defined once;
- ``liveness``: heartbeats and expiry that keep the sessions table true;
- ``limits``: what one connection may ask (token buckets, strikes) and the
  connections counted per address and user;
- ``notify``: messages to connected clients from outside their connection;
- ``sockets``: the socket writer and the bounded inbound queue, the one
  module that knows Twisted and autobahn;
- ``threads``: where synchronous database work runs;
- ``redis_layer``: channels-redis' pub/sub layer, quicker to hear Redis back.

May import: ``editor.store``, ``editor.wire``, ``editor.ot``, Channels,
channels-redis (``redis_layer``), Django's settings and utilities, Twisted
(``sockets`` only). Not the Django
face (models, services, consumers): what it needs of the sessions table is
handed to it (``worker.configure``).
"""
