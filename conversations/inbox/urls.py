from django.urls import path

from conversations.inbox import dashboard, outreach, views

app_name = "inbox"

urlpatterns: list = [
    path("", views.inbox, name="index"),
    path("next/", views.pull_next, name="next"),
    path("start/", outreach.start, name="start"),
    path("<int:conversation_id>/template/", outreach.template_picker, name="template-picker"),
    path("<int:conversation_id>/template/send/", outreach.template_send, name="template-send"),
    path("events/", views.events, name="events"),
    path("bulk/", views.bulk, name="bulk"),
    path("my-work/", dashboard.my_work_view, name="my-work"),
    path("<int:conversation_id>/act/", views.act, name="act"),
    path("<int:conversation_id>/reply/", views.reply, name="reply"),
]
