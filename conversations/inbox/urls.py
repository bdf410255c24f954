from django.urls import path

from conversations.inbox import views

app_name = "inbox"

urlpatterns: list = [
    path("", views.inbox, name="index"),
    path("next/", views.pull_next, name="next"),
    path("events/", views.events, name="events"),
    path("<int:conversation_id>/act/", views.act, name="act"),
    path("<int:conversation_id>/reply/", views.reply, name="reply"),
]
