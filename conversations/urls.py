from django.urls import path

from conversations import views

app_name = "conversations"

urlpatterns = [
    path("webhooks/whatsapp/<str:channel_id>/", views.whatsapp_webhook, name="whatsapp-webhook"),
    path("attachments/<int:message_id>/", views.attachment_download, name="attachment-download"),
]
