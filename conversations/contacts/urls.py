from django.urls import path

from conversations.contacts import views

app_name = "contacts"

urlpatterns = [
    path("", views.contact_list, name="list"),
    path("export.csv", views.contact_export, name="export"),
    path("bulk/", views.contact_bulk, name="bulk"),
    path("segments/", views.segment_save, name="segment-save"),
    path("import/", views.import_upload, name="import-upload"),
    path("import/<int:import_id>/", views.import_detail, name="import"),
    path("import/<int:import_id>/rejected.csv", views.import_rejected_csv, name="import-rejected"),
    path("<int:contact_id>/", views.contact_detail, name="detail"),
    path("<int:contact_id>/edit/", views.contact_edit, name="edit"),
]
