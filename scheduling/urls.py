from django.urls import path

from scheduling.views import public, staff

app_name = "scheduling"

urlpatterns = [
    path("book/<slug:org_slug>/", public.book, name="book"),
    path("book/<slug:org_slug>/confirm/", public.book_confirm, name="book_confirm"),
    path("book/<slug:org_slug>/booked/<str:token>/", public.booked, name="booked"),
    path("book/<slug:org_slug>/manage/<str:token>/", public.manage, name="manage"),
    path("book/<slug:org_slug>/manage/<str:token>/cancel/", public.manage_cancel, name="manage_cancel"),
    path("book/<slug:org_slug>/manage/<str:token>/reschedule/", public.manage_reschedule, name="manage_reschedule"),
    path("book/<slug:org_slug>/manage/<str:token>/appointment.ics", public.manage_ics, name="manage_ics"),
    path("calendar/", staff.calendar, name="calendar"),
    path("calendar/new/", staff.appointment_new, name="appointment_new"),
    path("calendar/statistics/", staff.statistics, name="statistics"),
    path("calendar/today/", staff.today, name="today"),
    path("calendar/appointments/<int:pk>/", staff.appointment_detail, name="appointment"),
    path("calendar/contacts/<int:contact_id>/appointments/", staff.contact_appointments, name="contact_appointments"),
    path("calendar/appointments/<int:pk>/<slug:action>/", staff.appointment_action, name="appointment_action"),
]
