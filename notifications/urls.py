from django.urls import include, path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("settings/notifications/", views.preferences, name="preferences"),
    path("settings/notifications/test/", views.send_test, name="send_test"),
    path("notifications/", views.center, name="center"),
    path("notifications/<int:log_id>/read/", views.mark_read, name="mark_read"),
    path("notifications/read-all/", views.mark_all_read, name="mark_all_read"),
    path("webhooks/email/", include("anymail.urls")),
]
