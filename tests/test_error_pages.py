"""Error pages on Django's DEBUG=False path: the project's templates, in English and pt-BR, CSP-clean.

Each page is reached the way production reaches it (a NUL in a query string, a missing page, a
role that may not, a form without its CSRF token, a forged Host), through a client that turns
exceptions into responses as the server does. The 500 page is rendered by the configured handler.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client, RequestFactory, override_settings
from django.urls import get_resolver, reverse
from django.utils import translation

pytestmark = pytest.mark.django_db

INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),  # a script without src
    re.compile(r"<style\b", re.I),
    re.compile(r"\sstyle\s*=", re.I),
    re.compile(r"\son[a-z]+\s*=", re.I),  # onclick=, onload=…
    re.compile(r"javascript:", re.I),
]


def client(user=None, language="en", **kwargs) -> Client:
    browser = Client(raise_request_exception=False, **kwargs)
    browser.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    if user is not None:
        browser.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return browser


def assert_csp_clean(response):
    body = response.content.decode()
    for pattern in INLINE:
        assert not pattern.search(body), (pattern.pattern, response.status_code)
    if "Content-Security-Policy" in response:
        assert "default-src 'self'" in response["Content-Security-Policy"]


PAGES = {
    # name: (request, status, English text, Portuguese text)
    "nul in the inbox search": (
        lambda c: c.get("/inbox/?q=caf%00e"),
        400,
        ["This request cannot be handled", "The request contains a NUL character, which is not allowed."],
        ["Não foi possível atender a esta requisição", "A requisição contém um caractere NUL, que não é permitido."],
    ),
    "nul in a form": (
        lambda c: c.post(reverse("accounts:my_status"), {"status": "online\x00"}),
        400,
        ["The request contains a NUL character"],
        ["A requisição contém um caractere NUL"],
    ),
    "missing page": (
        lambda c: c.get("/no-such-page/"),
        404,
        ["Page not found"],
        ["Página não encontrada"],
    ),
    "role that may not": (
        lambda c: c.get(reverse("scheduling:statistics")),
        403,
        ["You cannot open this page"],
        ["Você não pode abrir esta página"],
    ),
}


@override_settings(DEBUG=False)
@pytest.mark.parametrize("language", ["en", "pt-br"])
@pytest.mark.parametrize("page", list(PAGES), ids=list(PAGES))
def test_error_pages_are_the_projects_translated_and_csp_clean(tenant_a, page, language):
    send, status, english, portuguese = PAGES[page]
    response = send(client(tenant_a.agent, language))
    assert response.status_code == status
    body = response.content.decode()
    for text in english if language == "en" else portuguese:
        assert text in body, (text, body[:400])
    assert f'<html lang="{language}">' in body
    assert_csp_clean(response)


@override_settings(DEBUG=False)
@pytest.mark.parametrize(("language", "text"), [("en", "The form has expired"), ("pt-br", "O formulário expirou")])
def test_a_form_without_its_csrf_token_gets_the_projects_page(tenant_a, language, text):
    response = client(tenant_a.agent, language, enforce_csrf_checks=True).post(
        reverse("accounts:switch"), {"organization": tenant_a.org.pk}
    )
    assert response.status_code == 403
    assert text in response.content.decode()
    assert_csp_clean(response)


@override_settings(DEBUG=False)
def test_djangos_own_bad_requests_get_the_400_page_without_echoing_the_input(tenant_a):
    response = client(tenant_a.agent).get("/", headers={"host": "evil.example"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "This request cannot be handled" in body and "evil.example" not in body
    assert_csp_clean(response)


@override_settings(DEBUG=False)
@pytest.mark.parametrize(("language", "text"), [("en", "Something went wrong"), ("pt-br", "Algo deu errado")])
def test_the_500_handler_renders_the_projects_page(language, text):
    handler = get_resolver().resolve_error_handler(500)
    assert f"{handler.__module__}.{handler.__name__}" == "pytake.errors.server_error"
    with translation.override(language):
        response = handler(RequestFactory().get("/"))
    assert response.status_code == 500
    assert text in response.content.decode()
    assert_csp_clean(response)
