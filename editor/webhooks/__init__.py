"""Webhooks: document changes and people coming and going, POSTed to subscribers' URLs.

- ``records``: the synchronous database side (subscriptions, deliveries due, outcomes);
- ``dispatch``: this worker's part on its event loop: it hears of commits and of people
  (never making an edit wait), gathers changes for EDITOR_WEBHOOK_DEBOUNCE_SECONDS, and
  sends what is due, signed as Standard Webhooks do.

May import: the models, ``editor.access``, ``editor.live`` (threads), ``editor.ot``.
The live layer knows it only as its ``worker.Observer``.
"""
