"""Any change of shares, links or users, from the sharing page, the admin or a shell, takes effect live."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_delete

from editor.models import Share, ShareLink

from . import grants


def _document_changed(sender, instance, **kwargs) -> None:
    grants.rights_changed([instance.document_id])


def _link_saved(sender, instance: ShareLink, created: bool, **kwargs) -> None:
    if not created:  # a new link grants nothing to anyone connected
        grants.rights_changed([instance.document_id])


def _user_saved(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    # Signing in writes last_login, which changes no rights; any other save
    # may (is_active, is_superuser): the user's open connections read theirs again.
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return
    _user_changed(instance.pk)


def _user_changed(user_id: int) -> None:
    grants.rights_changed(grants.documents_of_user(user_id))
    # Once more after the commit: a connection that read the user's rights
    # before this transaction committed recorded its session before reading
    # them (services.session_connect), so it is found now if not before.
    transaction.on_commit(lambda: grants.rights_changed(grants.documents_of_user(user_id)))


def _signed_out(sender, request, user, **kwargs) -> None:
    if user is None:
        return
    # Django flushes the session right after this signal; flushed first, the
    # connections of this browser that read their rights again find it gone
    # (grants.signed_in_user_id) and close.
    request.session.flush()
    _user_changed(user.pk)


def _user_deleting(sender, instance, **kwargs) -> None:
    # Before the delete: their sessions' user becomes NULL with it.
    grants.rights_changed(grants.documents_of_user(instance.pk))


def connect() -> None:
    """Called once, from the app's ready()."""
    post_save.connect(_document_changed, sender=Share, dispatch_uid="editor.share.saved")
    post_delete.connect(_document_changed, sender=Share, dispatch_uid="editor.share.deleted")
    post_save.connect(_link_saved, sender=ShareLink, dispatch_uid="editor.link.saved")
    post_delete.connect(_document_changed, sender=ShareLink, dispatch_uid="editor.link.deleted")
    user = get_user_model()
    post_save.connect(_user_saved, sender=user, dispatch_uid="editor.user.saved")
    user_logged_out.connect(_signed_out, dispatch_uid="editor.user.signed_out")
    pre_delete.connect(_user_deleting, sender=user, dispatch_uid="editor.user.deleting")
