"""Sign-in, sign-out and sign-up pages (editor/accounts.py), through Django's test client."""

import re

import pytest
from django.contrib.auth import get_user
from django.contrib.auth.forms import UserCreationForm

PASSWORD = "correct horse battery staple"
LOGIN = "/accounts/login/"
LOGOUT = "/accounts/logout/"
SIGNUP = "/accounts/signup/"
SIGN_IN_LINK = '<a href="/accounts/login/?next=/d/notes/">Sign in</a>'
SIGN_UP_LINK = '<a href="/accounts/signup/?next=/d/notes/">Sign up</a>'


@pytest.fixture
def ada(django_user_model):
    return django_user_model.objects.create_user("ada", password=PASSWORD)


def signed_in_as(client) -> str | None:
    user = get_user(client)
    return user.get_username() if user.is_authenticated else None


def assert_no_inline_script_style_or_handler(html: str) -> None:
    """The site's Content-Security-Policy would refuse them (docs/security.md)."""
    assert all("src=" in tag for tag in re.findall(r"<script\b[^>]*>", html))
    assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=|javascript:|data:", html)


def test_the_sign_in_page_has_labelled_fields_the_browser_can_fill(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<label for="id_username">Username</label>' in html
    assert '<label for="id_password">Password</label>' in html
    username = re.search(r'<input type="text" name="username"[^>]*>', html)[0]
    assert " autofocus" in username
    assert 'autocomplete="username"' in username
    assert 'autocomplete="current-password"' in re.search(r'<input type="password"[^>]*>', html)[0]
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<link rel="stylesheet" href="/static/editor/editor.css">' in html
    assert '<a href="/">Realtime editor</a>' in html


@pytest.mark.django_db
@pytest.mark.parametrize("path", [LOGIN, SIGNUP])
def test_the_account_pages_run_no_inline_script_style_or_handler(client, settings, path):
    settings.EDITOR_ALLOW_SIGNUP = True
    response = client.get(path)
    assert response.status_code == 200
    assert "script-src" not in response["Content-Security-Policy"]  # default-src 'self' covers it
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert_no_inline_script_style_or_handler(response.content.decode())


def test_the_right_password_signs_in_and_goes_to_a_local_next(client, ada):
    response = client.post(LOGIN, {"username": "ada", "password": PASSWORD, "next": "/d/notes/"})
    assert response.status_code == 302
    assert response["Location"] == "/d/notes/"
    assert signed_in_as(client) == "ada"


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/", ""])
def test_sign_in_goes_home_instead_of_to_another_site(client, ada, next_url):
    response = client.post(LOGIN, {"username": "ada", "password": PASSWORD, "next": next_url})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert signed_in_as(client) == "ada"


def test_a_wrong_password_shows_the_error_and_signs_nobody_in(client, ada):
    response = client.post(LOGIN, {"username": "ada", "password": "not it", "next": "/d/notes/"})
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'<ul class="account-errors" role="alert"><li>Please enter a correct username', html)
    assert '<input type="hidden" name="next" value="/d/notes/">' in html  # kept for the next try
    assert signed_in_as(client) is None
    assert "_auth_user_id" not in client.session


def test_an_inactive_user_cannot_sign_in(client, django_user_model):
    django_user_model.objects.create_user("gone", password=PASSWORD, is_active=False)
    response = client.post(LOGIN, {"username": "gone", "password": PASSWORD})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert signed_in_as(client) is None


def test_sign_out_by_post_signs_out_and_returns_to_the_page(client, ada):
    client.force_login(ada)
    response = client.post(LOGOUT, {"next": "/d/notes/"})
    assert response.status_code == 302
    assert response["Location"] == "/d/notes/"
    assert signed_in_as(client) is None


def test_sign_out_without_a_local_next_goes_home(client, ada):
    client.force_login(ada)
    response = client.post(LOGOUT, {"next": "https://evil.example/"})
    assert response["Location"] == "/"
    assert signed_in_as(client) is None


def test_sign_out_by_get_is_refused(client, ada):
    """A link or an image on another site must not sign anyone out."""
    client.force_login(ada)
    assert client.get(LOGOUT).status_code == 405
    assert signed_in_as(client) == "ada"


@pytest.mark.django_db
def test_sign_up_is_not_there_by_default(client, django_user_model):
    assert client.get(SIGNUP).status_code == 404
    data = {"username": "eve", "password1": PASSWORD, "password2": PASSWORD}
    assert client.post(SIGNUP, data).status_code == 404
    assert not django_user_model.objects.exists()


@pytest.mark.django_db
def test_the_sign_up_page_has_labelled_fields_for_new_passwords(client, settings):
    settings.EDITOR_ALLOW_SIGNUP = True
    response = client.get(SIGNUP)
    assert response.status_code == 200
    html = response.content.decode()
    for name, label in [("username", "Username"), ("password1", "Password"), ("password2", "Password")]:
        assert f'<label for="id_{name}">{label}' in html
    assert " autofocus" in re.search(r'<input type="text" name="username"[^>]*>', html)[0]
    passwords = re.findall(r'<input type="password"[^>]*>', html)
    assert len(passwords) == 2
    assert all('autocomplete="new-password"' in tag for tag in passwords)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("next_url", "landing"), [("/d/notes/", "/d/notes/"), ("https://evil.example/", "/")]
)
def test_sign_up_creates_the_user_signs_them_in_and_redirects(
    client, settings, django_user_model, next_url, landing
):
    settings.EDITOR_ALLOW_SIGNUP = True
    data = {"username": "grace", "password1": PASSWORD, "password2": PASSWORD, "next": next_url}
    response = client.post(SIGNUP, data)
    assert response.status_code == 302
    assert response["Location"] == landing
    user = django_user_model.objects.get(username="grace")
    assert user.check_password(PASSWORD)
    assert not user.is_staff
    assert signed_in_as(client) == "grace"


@pytest.mark.django_db
def test_sign_up_with_mismatched_passwords_shows_the_error_and_creates_nobody(
    client, settings, django_user_model
):
    settings.EDITOR_ALLOW_SIGNUP = True
    data = {"username": "grace", "password1": PASSWORD, "password2": PASSWORD + "!"}
    response = client.post(SIGNUP, data)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<ul class="account-errors" id="id_password2_error" role="alert">' in html
    assert str(UserCreationForm.error_messages["password_mismatch"]) in html
    assert 'aria-describedby="id_password2_helptext id_password2_error"' in html
    assert not django_user_model.objects.exists()
    assert signed_in_as(client) is None


@pytest.mark.django_db  # the page checks who may open the document
def test_the_editor_page_offers_sign_in_back_to_itself_when_signed_out(client):
    html = client.get("/d/notes/").content.decode()
    assert SIGN_IN_LINK in html
    assert 'action="/accounts/logout/"' not in html
    assert "Signed in as" not in html


def test_the_editor_page_names_the_user_and_offers_sign_out_when_signed_in(client, ada):
    client.force_login(ada)
    html = client.get("/d/notes/").content.decode()
    assert "Signed in as <strong>ada</strong>" in html
    form = re.search(
        r'<form class="account-signout" method="post" action="/accounts/logout/">.*?</form>', html, re.S
    )
    assert form
    assert 'name="csrfmiddlewaretoken"' in form[0]
    assert '<input type="hidden" name="next" value="/d/notes/">' in form[0]
    assert '<button type="submit">Sign out</button>' in form[0]
    assert SIGN_IN_LINK not in html


@pytest.mark.django_db  # the page checks who may open the document
@pytest.mark.parametrize("allowed", [False, True])
def test_the_sign_up_link_shows_only_when_sign_up_is_allowed(client, settings, allowed):
    settings.EDITOR_ALLOW_SIGNUP = allowed
    editor = client.get("/d/notes/").content.decode()
    login = client.get(LOGIN + "?next=/d/notes/").content.decode()
    assert (SIGN_UP_LINK in editor) is allowed
    assert (SIGN_UP_LINK in login) is allowed
    assert SIGN_IN_LINK in editor
