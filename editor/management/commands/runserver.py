"""``manage.py runserver``: Daphne's, serving through the editor's server (editor/server.py)."""

from daphne.management.commands.runserver import Command as DaphneRunserver

from editor.server import EditorServer


class Command(DaphneRunserver):
    server_cls = EditorServer
