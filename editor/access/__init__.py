"""Who may do what with a document: owners, visibility, shares, links (docs/security.md).

- ``rules``: the rules alone, no I/O: a person's role from the document's
  visibility, owner, shares and the links they opened;
- ``grants``: the rights read from the rows, links made and revoked, and
  ``rights_changed``, which makes every change take effect on open sockets;
- ``signals``: shares, links and users changed anywhere (the admin, a
  shell) call it.

Part of the Django face: may import everything below it.
"""
