import zoneinfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import limits, selectors, services
from accounts.models import AgentStatus, User
from accounts.roles import ACTING_ROLES, ALL_ROLES, Role
from accounts.tenancy import role_required, switch_organization


@role_required(*ALL_ROLES)
def dashboard(request):
    organization = request.organization
    return render(
        request,
        "accounts/dashboard.html",
        {
            "overview": selectors.organization_overview(organization=organization),
            "departments": selectors.department_list_with_queues(organization=organization),
            "status_choices": AgentStatus.choices,
        },
    )


@role_required(Role.ORG_ADMIN)
def usage(request):
    """The plan's limits next to this organization's figures, and the last months' counters."""
    organization = request.organization
    return render(
        request,
        "accounts/usage.html",
        {
            "rows": limits.usage_overview(organization=organization),
            "months": limits.usage_months(organization=organization, months=6),
        },
    )


@role_required(*ALL_ROLES)
def team(request):
    return render(request, "accounts/team.html", {"members": selectors.member_list(organization=request.organization)})


@require_POST
@role_required(*ACTING_ROLES)
def my_status(request):
    status = request.POST.get("status", "")
    if status not in AgentStatus.values or request.membership is None:
        message = (
            _("Choose one of: online, away, offline.")
            if request.membership
            else _("Super admins have no agent status here.")
        )
        if request.htmx:
            return render(request, "accounts/dashboard.html#status-form", _status_context(message), status=400)
        messages.error(request, message)
        return redirect("dashboard")
    services.agent_set_status(membership=request.membership, status=status)
    if request.htmx:
        return render(request, "accounts/dashboard.html#status-form", _status_context())
    messages.success(request, _("Your status is now %(status)s.") % {"status": request.membership.get_status_display()})
    return redirect("dashboard")


def _status_context(error: str = "") -> dict:
    return {"status_choices": AgentStatus.choices, "status_error": error}


@require_POST
@login_required
def switch(request):
    try:
        organization_id = int(request.POST.get("organization", ""))
    except ValueError:
        return HttpResponseBadRequest(_("Choose an organization."))
    if not 0 < organization_id < 2**63 or not switch_organization(request, organization_id):
        messages.error(request, _("You are not a member of that organization."))
    return HttpResponseRedirect(safe_next_path(request, request.POST.get("next")))


def safe_next_path(request, value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site, else ``default``.

    Never passed to ``redirect()``, which would resolve a bare word as a view name.
    """
    if (
        not value
        or not value.startswith("/")
        or not url_has_allowed_host_and_scheme(
            value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return default
    return value


class LoginView(auth_views.LoginView):
    """Django's login, then the user's preferred language unless they picked one in this browser."""

    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        if settings.LANGUAGE_COOKIE_NAME not in self.request.COOKIES:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                form.get_user().language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                samesite="Lax",
                secure=self.request.is_secure(),
            )
        return response


def _profile_context(request, **extra) -> dict:
    return {
        "languages": User._meta.get_field("language").choices,
        "time_zones": sorted(zoneinfo.available_timezones()),
        "organization_time_zone": request.organization.time_zone if request.organization else "",
        "password_form": extra.pop("password_form", None) or PasswordChangeForm(request.user),
        **extra,
    }


@require_http_methods(["GET", "POST"])
@login_required
def profile(request):
    """My profile: name, language, time zone, reply signature, avatar and password; each form saves on its own."""
    user, organization = request.user, getattr(request, "organization", None)
    if request.method == "GET":
        return render(request, "accounts/profile.html", _profile_context(request))
    form = request.POST.get("form", "")
    try:
        if form == "details":
            previous_language = user.language
            services.user_profile_update(
                user=user,
                organization=organization,
                full_name=request.POST.get("full_name", ""),
                language=request.POST.get("language", ""),
                time_zone=request.POST.get("time_zone", ""),
                signature=request.POST.get("signature", ""),
            )
            response = redirect("profile")
            messages.success(request, _("Profile saved."))
            if user.language != previous_language:
                response.set_cookie(
                    settings.LANGUAGE_COOKIE_NAME,
                    user.language,
                    max_age=settings.LANGUAGE_COOKIE_AGE,
                    samesite="Lax",
                    secure=request.is_secure(),
                )
            return response
        if form == "avatar":
            if request.POST.get("remove"):
                services.user_avatar_clear(user=user, organization=organization)
                messages.success(request, _("Picture removed."))
            elif request.FILES.get("avatar") is None:
                raise ValidationError({"avatar": _("Choose a picture to upload.")})
            else:
                services.user_avatar_set(user=user, file=request.FILES["avatar"], organization=organization)
                messages.success(request, _("Picture saved."))
            return redirect("profile")
        if form == "password":
            password_form = PasswordChangeForm(user, request.POST)
            if not password_form.is_valid():
                return render(
                    request, "accounts/profile.html", _profile_context(request, password_form=password_form), status=422
                )
            services.user_password_change(
                user=user, new_password=password_form.cleaned_data["new_password1"], organization=organization
            )
            update_session_auth_hash(request, user)
            messages.success(request, _("Password changed."))
            return redirect("profile")
    except ValidationError as error:
        user.refresh_from_db()
        errors = error.message_dict if hasattr(error, "error_dict") else {"general": error.messages}
        errors["general"] = errors.pop("__all__", errors.get("general", []))
        return render(
            request,
            "accounts/profile.html",
            _profile_context(
                request, errors={k: " ".join(v) for k, v in errors.items()}, draft=request.POST, form=form
            ),
            status=422,
        )
    return HttpResponseBadRequest(_("Unknown form."))


@require_GET
@login_required
def my_avatar(request):
    """My own picture (for the profile page and the top bar)."""
    if not request.user.avatar:
        raise Http404
    try:
        handle = request.user.avatar.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    extension = request.user.avatar.name.rsplit(".", 1)[-1]
    content_type = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}.get(
        extension, "application/octet-stream"
    )
    response = FileResponse(handle, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=300"
    return response
