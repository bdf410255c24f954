from django.urls import path

from conversations.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:slug>/", views.section_page, name="section"),
    path("<slug:slug>.csv", views.section_csv, name="csv"),
    path("<slug:slug>.json", views.section_json, name="json"),
]
