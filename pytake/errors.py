"""Error pages in the site's layout (and language)."""

from django.shortcuts import render


def permission_denied(request, exception=None):
    reason = str(exception) if exception else ""
    return render(request, "errors/403.html", {"no_organization": reason == "no-organization"}, status=403)


def page_not_found(request, exception=None):
    return render(request, "errors/404.html", status=404)


def server_error(request):
    return render(request, "errors/500.html", status=500)
