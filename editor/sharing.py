"""The sharing page and the links it makes: thin views over access/grants.py.

Every change goes through grants, which makes it take effect live on open
connections. The forms only validate what the page posts; an id that does
not belong to the document is a 404, as if it did not exist.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from editor.access import grants
from editor.access.rules import Role, Visibility
from editor.models import ROLE_CHOICES, Document, Share, ShareLink

VISIBILITY_CHOICES = [(v.value, v.label) for v in Visibility]


# Links


@require_safe
def open_link(request: HttpRequest, token: str) -> HttpResponse:
    """Someone opened a link: their browser session holds its role from now on."""
    link = grants.link_for_token(token)
    if link is None:
        return _link_gone(
            request, "No such link", "There is no such link: check that you copied all of it.", status=404
        )
    if not link.is_active:
        return _link_gone(
            request,
            "Link revoked",
            "This link was revoked: ask the document's owner for a new one.",
            status=410,
        )
    grants.remember_link(request.session, link)
    return redirect("editor:document", slug=link.document.slug)


def _link_gone(request: HttpRequest, title: str, message: str, *, status: int) -> HttpResponse:
    return render(request, "editor/link_gone.html", {"title": title, "message": message}, status=status)


# The page's forms: one per action, named by the hidden ``action`` field.


class VisibilityForm(forms.Form):
    visibility = forms.ChoiceField(choices=VISIBILITY_CHOICES)


class ShareForm(forms.Form):
    """Share with someone by user name, or change their role."""

    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=ROLE_CHOICES)

    def __init__(self, *args, document: Document, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.document = document

    def clean_username(self):
        username = self.cleaned_data["username"]
        user_model = get_user_model()
        user = user_model.objects.filter(**{user_model.USERNAME_FIELD: username}, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"No one here has the user name “{username}”.")
        if user.pk == self.document.owner_id:
            raise forms.ValidationError(f"{username} owns this document already.")
        return user


class UnshareForm(forms.Form):
    def __init__(self, *args, document: Document, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"] = forms.ModelChoiceField(
            queryset=get_user_model().objects.filter(shares__document=document)
        )


class LinkForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES)


class RevokeForm(forms.Form):
    def __init__(self, *args, document: Document, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Revoked ones too: a second click (another tab) changes nothing and says so.
        self.fields["link"] = forms.ModelChoiceField(queryset=ShareLink.objects.filter(document=document))


# The page


@never_cache  # it may show a new link's token, once
@require_http_methods(["GET", "HEAD", "POST"])
def share_page(request: HttpRequest, slug: str) -> HttpResponse:
    """Who may open the document: only its owner (or a superuser) sees this page."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    document = Document.objects.filter(slug=slug).select_related("owner").first()
    if document is None or not _can_manage(request, document):
        raise Http404("no such document")  # the same for a document one may not manage
    if request.method != "POST":
        return _render(request, document)
    action = request.POST.get("action")
    handler = ACTIONS.get(action)
    if handler is None:
        # Plain text: the action is the client's, not to be read as HTML.
        return HttpResponseBadRequest(f"unknown action {action!r}", content_type="text/plain; charset=utf-8")
    return handler(request, document)


def _can_manage(request: HttpRequest, document: Document) -> bool:
    access = grants.access_for(document_id=document.pk, visitor=grants.Visitor.of_request(request))
    return access.can_manage


def _render(request: HttpRequest, document: Document, status: int = 200, **forms_and_more) -> HttpResponse:
    context = {
        "document": document,
        "slug": document.slug,
        # The editor's address, whole, for the Copy link button.
        "document_url": request.build_absolute_uri(reverse("editor:document", args=[document.slug])),
        "visibilities": VISIBILITY_CHOICES,
        "roles": ROLE_CHOICES,
        "shares": Share.objects.filter(document=document).select_related("user"),
        "links": ShareLink.objects.filter(document=document, revoked_at=None).select_related("created_by"),
        "visibility_form": VisibilityForm(),
        "share_form": ShareForm(document=document),
        "link_form": LinkForm(),
        **forms_and_more,
    }
    return render(request, "editor/share.html", context, status=status)


def _back(request: HttpRequest, document: Document, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect("editor:share", slug=document.slug)


def _set_visibility(request: HttpRequest, document: Document) -> HttpResponse:
    form = VisibilityForm(request.POST)
    if not form.is_valid():
        return _render(request, document, visibility_form=form)
    visibility = Visibility(form.cleaned_data["visibility"])
    if visibility.value != document.visibility:
        grants.set_document_rights(document_id=document.pk, visibility=visibility)
    return _back(request, document, f"The document is now {visibility.label}.")


def _share(request: HttpRequest, document: Document) -> HttpResponse:
    form = ShareForm(request.POST, document=document)
    if not form.is_valid():
        return _render(request, document, share_form=form)
    user, role = form.cleaned_data["username"], form.cleaned_data["role"]
    grants.share(document=document, user=user, role=Role.named(role))
    return _back(request, document, f"{user.get_username()} is now {_a(role)} of this document.")


def _unshare(request: HttpRequest, document: Document) -> HttpResponse:
    form = UnshareForm(request.POST, document=document)
    if not form.is_valid():
        raise Http404("no such share")
    user = form.cleaned_data["user"]
    grants.unshare(document=document, user_id=user.pk)
    return _back(request, document, f"The document is no longer shared with {user.get_username()}.")


def _create_link(request: HttpRequest, document: Document) -> HttpResponse:
    """Answered with the page, not a redirect: the token is shown now or never (only its hash is kept)."""
    form = LinkForm(request.POST)
    if not form.is_valid():
        return _render(request, document, link_form=form)
    link, token = grants.create_link(
        document=document, role=Role.named(form.cleaned_data["role"]), created_by=request.user
    )
    url = request.build_absolute_uri(reverse("editor:link", args=[token]))
    return _render(request, document, new_link=link, new_link_url=url)


def _revoke(request: HttpRequest, document: Document) -> HttpResponse:
    form = RevokeForm(request.POST, document=document)
    if not form.is_valid():
        raise Http404("no such link")
    link = form.cleaned_data["link"]
    grants.revoke_link(link)
    return _back(request, document, f"The {link.role} link …{link.hint} is revoked: it opens nothing now.")


def _a(role: str) -> str:
    return f"an {role}" if role[0] in "aeiou" else f"a {role}"


ACTIONS = {
    "visibility": _set_visibility,
    "share": _share,
    "unshare": _unshare,
    "link": _create_link,
    "revoke": _revoke,
}
