"""Periodic jobs are declared in code and installed in the Beat database (django-celery-beat).

Each app's ``tasks`` module may hold ``PERIODIC_TASKS``: ``{name: {"task": dotted name,
"every": seconds}}`` or ``{"cron": "m h dom mon dow"}``. ``manage.py install_periodic_tasks``
(run by ``make run`` on every start) creates or updates them; admins may then pause or retime
them in the admin.
"""

from __future__ import annotations

from pytake.app_modules import app_submodules


def declared_periodic_tasks() -> dict[str, dict]:
    declared: dict[str, dict] = {}
    for module in app_submodules("tasks"):
        declared.update(getattr(module, "PERIODIC_TASKS", {}))
    return declared


def install_periodic_tasks() -> list[tuple[str, bool]]:
    """Create or update every declared task; returns ``(name, created)`` pairs."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    results = []
    for name, spec in declared_periodic_tasks().items():
        defaults: dict = {"task": spec["task"], "interval": None, "crontab": None}
        if "every" in spec:
            defaults["interval"], _ = IntervalSchedule.objects.get_or_create(
                every=spec["every"], period=IntervalSchedule.SECONDS
            )
        else:
            minute, hour, day_of_month, month_of_year, day_of_week = spec["cron"].split()
            defaults["crontab"], _ = CrontabSchedule.objects.get_or_create(
                minute=minute,
                hour=hour,
                day_of_month=day_of_month,
                month_of_year=month_of_year,
                day_of_week=day_of_week,
                timezone="UTC",
            )
        _task, created = PeriodicTask.objects.update_or_create(name=name, defaults=defaults)
        results.append((name, created))
    return results
