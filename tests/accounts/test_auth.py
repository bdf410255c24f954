import re

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from tests import factories
from tests.smtp import smtp_server


@pytest.mark.django_db
def test_login_with_email_any_case_and_logout(tenant_a):
    client = Client()
    response = client.post(reverse("accounts:login"), {"username": "AGENT@alpha.test", "password": factories.PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 302


@pytest.mark.django_db
def test_wrong_password_is_a_clear_form_error(tenant_a):
    response = Client().post(reverse("accounts:login"), {"username": "agent@alpha.test", "password": "nope"})
    assert response.status_code == 200
    assert "correct email address and password" in response.content.decode()


@pytest.mark.django_db
def test_brute_force_lockout_after_five_failures_even_with_the_right_password(tenant_a, settings):
    client = Client()
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        # Case variants of one email are one account for the lockout.
        username = "AGENT@alpha.test" if attempt % 2 else "agent@alpha.test"
        client.post(reverse("accounts:login"), {"username": username, "password": "wrong"})
    response = client.post(reverse("accounts:login"), {"username": "agent@alpha.test", "password": factories.PASSWORD})
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert client.get(reverse("dashboard")).status_code == 302  # not logged in
    # Another account from the same address is not locked.
    response = Client().post(
        reverse("accounts:login"), {"username": "viewer@alpha.test", "password": factories.PASSWORD}
    )
    assert response.status_code == 302


@pytest.mark.django_db
def test_password_reset_over_real_smtp(tenant_a):
    with smtp_server() as (controller, mailbox):
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST=controller.hostname,
            EMAIL_PORT=controller.port,
            EMAIL_USE_TLS=False,
        ):
            client = Client()
            response = client.post(reverse("accounts:password_reset"), {"email": "agent@alpha.test"})
            assert response.status_code == 302
            # Unknown addresses get the same answer and no email.
            client.post(reverse("accounts:password_reset"), {"email": "nobody@alpha.test"})
    assert len(mailbox.messages) == 1
    message = mailbox.messages[0]
    assert message["To"] == "agent@alpha.test"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = re.search(r"https?://[^/\s]+(/accounts/reset/[^\s\"<]+)", plain).group(1)
    assert link in html

    response = client.get(link, follow=True)
    assert response.status_code == 200 and response.context["validlink"]
    set_url = response.redirect_chain[-1][0]
    response = client.post(
        set_url, {"new_password1": "a-brand-new-passphrase", "new_password2": "a-brand-new-passphrase"}
    )
    assert response.status_code == 302
    client = Client()
    response = client.post(
        reverse("accounts:login"), {"username": "agent@alpha.test", "password": "a-brand-new-passphrase"}
    )
    assert response.status_code == 302
    # The link is single-use.
    assert Client().get(link, follow=True).context["validlink"] is False


@pytest.mark.django_db
def test_password_reset_rejects_a_malformed_email():
    response = Client().post(reverse("accounts:password_reset"), {"email": "not-an-email"})
    assert response.status_code == 200
    assert "valid email" in response.content.decode()


@pytest.mark.django_db
def test_login_switches_to_the_users_language_unless_chosen(tenant_a, settings):
    from accounts.models import User

    User.objects.filter(pk=tenant_a.agent.pk).update(language="pt-br")
    client = Client()
    client.post(reverse("accounts:login"), {"username": "agent@alpha.test", "password": factories.PASSWORD})
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "pt-br"
    assert "Visão geral" in client.get(reverse("dashboard")).content.decode()

    chosen = Client()
    chosen.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    chosen.post(reverse("accounts:login"), {"username": "agent@alpha.test", "password": factories.PASSWORD})
    assert chosen.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert "Overview" in chosen.get(reverse("dashboard")).content.decode()
