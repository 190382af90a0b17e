"""What travels between a tab and the server, pure: no Django, no Channels, no asyncio.

- ``protocol``: the JSON frames of docs/protocol.md, parsed into typed
  requests or refused with an error code, and the server's frames built;
  the close codes;
- ``names``: how a connection is shown to the others (display names, colours).

May import: ``editor.ot`` and the standard library.
"""
