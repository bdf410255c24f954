from django.urls import path

from conversations.assistant import views

app_name = "assistant"

urlpatterns = [
    path("settings/ai/", views.settings_page, name="settings"),
    path("settings/ai/providers/new/", views.provider_edit, name="provider-new"),
    path("settings/ai/providers/<int:provider_id>/", views.provider_edit, name="provider-edit"),
    path("settings/ai/providers/<int:provider_id>/delete/", views.provider_delete, name="provider-delete"),
    path("settings/ai/providers/<int:provider_id>/test/", views.provider_test, name="provider-test"),
    path("settings/usage/ai/", views.usage_panel, name="usage"),
    path("inbox/ai/<int:conversation_id>/", views.inbox_bar, name="bar"),
    path("inbox/ai/<int:conversation_id>/<slug:feature>/", views.inbox_assist, name="assist"),
]
