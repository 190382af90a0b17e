from django.apps import AppConfig


class EditorConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "editor"
    verbose_name = "Collaborative editor"

    def ready(self) -> None:
        # The live layer writes the sessions table through the face's services.
        from . import services
        from .access import signals
        from .live import worker
        from .webhooks.dispatch import Dispatcher

        worker.configure(records=services.session_records, observer=Dispatcher)
        signals.connect()
