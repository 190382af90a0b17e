"""Sign-in, sign-out and sign-up pages, on Django's own auth views and forms.

Signing in matters here because a signed-in person appears under their user name,
which others cannot take (editor/views.py); anonymous editing keeps working.
"""

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import LoginView, LogoutView
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

# Django's views already check the password, refuse inactive users, rotate the
# session key and follow `next` only to this site; logout answers POST only, so a
# link or an <img> on another site cannot sign anyone out.
login = LoginView.as_view(template_name="registration/login.html")
logout = LogoutView.as_view()


def safe_next(request: HttpRequest) -> str:
    """The `next` the request names if it stays on this site, else "": an open redirect
    after sign-up would let a phishing link borrow this site's name."""
    target = request.POST.get("next", request.GET.get("next", ""))
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


@sensitive_post_parameters("password1", "password2")
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Anyone may make an account here, so it is off unless EDITOR_ALLOW_SIGNUP is set:
    by default accounts come from an operator (createsuperuser, the admin).

    The new account is signed in at once and sent back where it came from.
    """
    if not settings.EDITOR_ALLOW_SIGNUP:
        raise Http404("sign-up is turned off (EDITOR_ALLOW_SIGNUP)")
    next_url = safe_next(request)
    form = UserCreationForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        auth.login(request, form.save())
        return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    return render(request, "registration/signup.html", {"form": form, "next": next_url})
