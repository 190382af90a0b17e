"""``{% load accounts %}``: what a page's account links need to know."""

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def signup_allowed() -> bool:
    """Whether to offer a "Sign up" link; read at each render, so a changed setting shows at once.

    A tag rather than a context processor: only the pages that show the links ask.
    """
    return settings.EDITOR_ALLOW_SIGNUP
