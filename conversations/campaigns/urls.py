from django.urls import path

from conversations.campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_new, name="new"),
    path("<int:campaign_id>/", views.campaign_detail, name="detail"),
    path("<int:campaign_id>/edit/<slug:step>/", views.campaign_edit, name="edit"),
    path("<int:campaign_id>/act/", views.campaign_act, name="act"),
    path("<int:campaign_id>/recipients.csv", views.campaign_recipients_csv, name="recipients_csv"),
]
