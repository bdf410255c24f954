"""Error pages in the site's layout (and language)."""

from django.shortcuts import render

from pytake.api.problems import problem_json_response
from pytake.request_input import InputRefused


def _api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception=None):
    if _api(request):
        detail = str(exception) if isinstance(exception, InputRefused) else "Bad request."
        return problem_json_response(status_code=400, detail=detail, instance=request.path)
    # Only our own refusals carry a message for the sender; Django's (e.g. a bad Host) stay generic.
    reason = str(exception) if isinstance(exception, InputRefused) else ""
    return render(request, "errors/400.html", {"reason": reason}, status=400)


def permission_denied(request, exception=None):
    if _api(request):
        return problem_json_response(status_code=403, detail=str(exception or "Forbidden."), instance=request.path)
    reason = str(exception) if exception else ""
    return render(request, "errors/403.html", {"no_organization": reason == "no-organization"}, status=403)


def csrf_failure(request, reason=""):
    return render(request, "errors/403_csrf.html", status=403)


def page_not_found(request, exception=None):
    if _api(request):
        return problem_json_response(status_code=404, detail="No such API endpoint.", instance=request.path)
    return render(request, "errors/404.html", status=404)


def server_error(request):
    if _api(request):
        return problem_json_response(status_code=500, detail="Server error.", instance=request.path)
    return render(request, "errors/500.html", status=500)
