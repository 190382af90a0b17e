"""The database side: everything that touches the documents and operations tables.

- ``sql``: every statement on those tables, written once;
- ``plan``: database work as plans, generators that yield statements and
  take rows back, with no I/O of their own;
- ``commit``: the one commit algorithm (a lone edit in one statement where
  the database can, then the locking way; group commit's retry one by one);
- ``documents``: opening and reading documents, their mode, the stored
  text's upkeep;
- ``log``: a document's log over its rows, the ``DocumentLog`` of ot/server.py;
- ``drivers``: run plans over psycopg's asynchronous connection or Django's.

May import: ``editor.ot``, Django's database layer, settings and utilities,
and psycopg. Not ``editor.wire``, ``editor.live`` or the Django face (not
even the models: the table names are in ``sql``).
"""
