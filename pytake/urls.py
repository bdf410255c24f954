from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from accounts import views as account_views
from pytake import health, metrics

urlpatterns = [
    path("", account_views.dashboard, name="dashboard"),
    path("settings/usage/", account_views.usage, name="usage"),
    path("settings/profile/", account_views.profile, name="profile"),
    path("settings/profile/avatar/", account_views.my_avatar, name="my-avatar"),
    path("accounts/", include("accounts.urls")),
    path("", include("conversations.urls")),
    path("inbox/", include("conversations.inbox.urls")),
    path("campaigns/", include("conversations.campaigns.urls")),
    path("reports/", include("conversations.reports.urls")),
    path("", include("conversations.assistant.urls")),
    path("contacts/", include("conversations.contacts.urls")),
    path("", include("notifications.urls")),
    path("", include("scheduling.urls")),
    path("api/v1/", include("pytake.api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("health/", health.health, name="health"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.svg"), permanent=True)),
]

handler400 = "pytake.errors.bad_request"
handler403 = "pytake.errors.permission_denied"
handler404 = "pytake.errors.page_not_found"
handler500 = "pytake.errors.server_error"
