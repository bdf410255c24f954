"""Report pages: ``/reports/<section>/`` with the period picker and filters, and each as CSV and JSON.

Org admins and viewers see the organization's figures; an agent sees only their own (the agent
filter is fixed to them, and sections without an agent dimension are closed to them). Bad
periods and filters answer 400 with the reason, never a 500.
"""

from __future__ import annotations

import csv
import datetime as dt
import json

from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts.roles import ALL_ROLES, Role
from accounts.tenancy import current_role, role_required
from conversations.reports import registry
from conversations.reports.forms import ReportFilterForm
from conversations.reports.sections import DAY, DURATION, PERCENT, TEXT, Report
from pytake.spreadsheet import formula_safe

BOM = "\ufeff"


def _own_agent_id(request) -> int | None:
    return request.user.pk if current_role(request) == Role.AGENT else None


def _section_or_404(request, slug: str):
    section = registry.section(slug)
    if section is None:
        raise Http404
    if _own_agent_id(request) is not None and not section.for_agents:
        raise PermissionDenied("role")
    return section


def _visible_sections(request):
    agent = _own_agent_id(request) is not None
    return [s for s in registry.sections() if s.for_agents or not agent]


def _form(request, section):
    """The overview opens on today (against yesterday); the other reports on the last 30 days."""
    return ReportFilterForm(
        request.GET,
        organization=request.organization,
        own_agent_id=_own_agent_id(request),
        default_preset="today" if section.slug == "overview" else "30d",
    )


@role_required(*ALL_ROLES)
def index(request):
    return redirect("reports:section", slug="overview")


@role_required(*ALL_ROLES)
def section_page(request, slug: str):
    section = _section_or_404(request, slug)
    form = _form(request, section)
    context = {"section": section, "sections": _visible_sections(request), "form": form, "own": _own_agent_id(request)}
    if not form.is_valid():
        return render(request, "reports/section.html", context, status=400)
    query = form.query()
    report = section.build(query)
    context.update(
        query=query,
        previous=query.period.previous(),
        report=report,
        charts=[_chart_data(table) for table in report.tables],
        export_query=request.GET.urlencode(),
        # The overview of a period that includes today refreshes itself (one partial a minute).
        live=section.slug == "overview" and query.period.day_to >= form.today,
    )
    template = (
        "reports/section.html#report" if request.htmx and request.htmx.target == "report" else "reports/section.html"
    )
    return render(request, template, context)


def _chart_data(table) -> dict:
    """What ``reports.js`` draws: labels (first column) and one series per charted column."""
    if table.chart is None:
        return {}
    labels = [_plain(row[0], table.columns[0].unit) for row in table.rows]
    index = {column.key: n for n, column in enumerate(table.columns)}
    series = []
    for key in table.chart.series:
        n = index[key]
        column = table.columns[n]
        values = [row[n] for row in table.rows]
        if column.unit == DURATION:
            values = [round(v / 60, 1) if v is not None else None for v in values]
        elif column.unit == PERCENT:
            values = [round(v, 1) if v is not None else None for v in values]
        series.append({"label": str(column.label), "unit": column.unit, "values": values})
    return {
        "id": f"chart-{table.slug}",
        "data_id": f"chart-{table.slug}-data",
        "kind": table.chart.kind,
        "labels": labels,
        "series": series,
    }


def _plain(value, unit):
    if unit == DAY and isinstance(value, dt.date):
        return value.isoformat()
    return str(value) if value is not None else ""


def _report_or_400(request, slug: str) -> tuple[object, Report | None, HttpResponse | None]:
    section = _section_or_404(request, slug)
    form = _form(request, section)
    if not form.is_valid():
        errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
        return section, None, HttpResponse(json.dumps({"errors": errors}), status=400, content_type="application/json")
    return section, section.build(form.query()), None


def _cell(value, unit):
    if value is None:
        return ""
    if unit == TEXT:
        return formula_safe(str(value))
    if unit == DAY and isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.2f}" if unit == PERCENT else f"{value:.0f}"
    return str(value)


@role_required(*ALL_ROLES)
def section_csv(request, slug: str):
    """One table of the report (``?table=``, default the first) as CSV, streamed row by row.

    UTF-8 with a byte-order mark so spreadsheet apps read accents right; durations in seconds,
    rates in percent, days in ISO form.
    """
    section, report, error = _report_or_400(request, slug)
    if error is not None:
        return error
    wanted = request.GET.get("table") or (report.tables[0].slug if report.tables else "")
    table = report.table(wanted)
    if table is None:
        return HttpResponse(
            _("Unknown table: %(table)s") % {"table": wanted[:50]}, status=400, content_type="text/plain"
        )

    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())

    def lines():
        yield BOM + writer.writerow([_csv_header(column) for column in table.columns])
        for row in table.rows:
            yield writer.writerow([_cell(value, column.unit) for value, column in zip(row, table.columns, strict=True)])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="report-{section.slug}-{table.slug}.csv"'
    return response


def _csv_header(column) -> str:
    label = str(column.label)
    if column.unit == DURATION:
        return _("%(label)s (seconds)") % {"label": label}
    if column.unit == PERCENT:
        return _("%(label)s (%%)") % {"label": label}
    return label


@role_required(*ALL_ROLES)
def section_json(request, slug: str):
    section, report, error = _report_or_400(request, slug)
    if error is not None:
        return error
    body = {
        "section": section.slug,
        "kpis": [
            {"label": str(k.label), "value": k.value, "previous": k.previous, "unit": k.unit} for k in report.kpis
        ],
        "tables": [
            {
                "slug": t.slug,
                "title": str(t.title),
                "columns": [{"key": c.key, "label": str(c.label), "unit": c.unit} for c in t.columns],
                "rows": t.rows,
            }
            for t in report.tables
        ],
    }
    return HttpResponse(json.dumps(body, cls=DjangoJSONEncoder), content_type="application/json")
