"""What travels between a tab and the server, pure: no Django, no Channels, no asyncio.

- ``protocol``: the JSON frames of docs/protocol.md, parsed into typed
  requests or refused with an error code, and the server's frames built;
  the close codes;
- ``names``: how a connection is shown to the others (display names, colours);
- ``websocket``: a server frame's bytes on the wire, built once for every
  socket it goes to (live/sockets.py writes them).

May import: ``editor.ot`` and the standard library.
"""
