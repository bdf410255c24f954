"""Every URL pattern, found from the resolver, driven with hostile input: never a 5xx.

Patterns come from walking ``get_resolver().url_patterns`` (not a hand list), so a new view is
driven as soon as it is routed. Path converters are filled with plausible values (the ids and
tokens of real rows of one organization) and with hostile ones (zero, huge, NUL, garbage). Each
plausible path gets GET query strings and POST bodies of every input class (dates at the edges
of the calendar, NUL characters, lone surrogates, huge integers, ``next`` values that are not
paths, garbage), as anonymous, agent, viewer and org admin, on Django's ``DEBUG=False`` path with
exceptions turned into responses as in production. The admin is driven model by model: every
changelist with hostile drill-down and filter parameters, add, change, delete and history.

Redirects are checked too: a ``Location`` is a path on this site, never an outside URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import pytest
from django.contrib import admin
from django.core.signals import got_request_exception
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern, RoutePattern

from accounts.models import Membership
from accounts.tenant_admin import TenantScopedAdmin
from conversations.models import Message
from scheduling import links
from tests import factories
from tests.conversations import factories as cf
from tests.notifications import factories as nf
from tests.scheduling import factories as sf

pytestmark = pytest.mark.django_db

NUL = "x\x00y"
HUGE = "9" * 30
SURROGATE_RAW = "%ED%A0%80"  # a lone surrogate (U+D800) as UTF-8 bytes would encode it
DATE_PARAMS = ("date", "from", "to", "day", "since", "until")
INSTANT_PARAMS = ("start", "at")
TEXT_PARAMS = (
    "q",
    "search",
    "name",
    "phone",
    "email",
    "notes",
    "reason",
    "body",
    "subject",
    "status",
    "priority",
    "view",
    "action",
    "note",
    "username",
    "password",
    "language",
    "state",
)
ID_PARAMS = (
    "c",
    "page",
    "service",
    "provider",
    "organization",
    "queue",
    "department",
    "agent",
    "assignee",
    "before",
    "after",
    "conversation",
    "membership",
)
POST_ONLY = ("assign_huge_agent", "transfer_hostile", "priority_garbage")
# /health/ answers 503 by design while a component is down (no Beat heartbeat in tests).
EXPECTED_5XX = {"/health/": {503}}
UNSAFE_NEXT = ("dashboard", "//evil.example/", "https://evil.example/x", "javascript:alert(1)", "/\\evil.example")


@dataclass
class World:
    org: object
    users: dict
    base: dict
    path_values: dict = field(default_factory=dict)


@pytest.fixture
def world(tenant_a, tenant_b):
    org = tenant_a.org
    queue = factories.queue(org)
    agent_membership = Membership.objects.get(user=tenant_a.agent, organization=org)
    queue.agents.add(agent_membership)
    channel = cf.channel(org, queue=queue)
    conversation = cf.conversation(org, queue=queue, channel=channel)
    message = Message.objects.filter(conversation=conversation).first() or cf.message(org)
    provider = sf.provider(org)
    service = sf.service(org, providers=[provider])
    appointment = sf.appointment(org, svc=service, prov=provider)
    log = nf.log(org, user=tenant_a.agent)
    foreign = cf.conversation(tenant_b.org)
    token = links.manage_token(appointment)
    base = {
        "c": str(conversation.pk),
        "service": str(service.pk),
        "provider": str(provider.pk),
        "organization": str(tenant_b.org.pk),
        "queue": str(queue.pk),
        "view": "week",
        "date": sf.future_day(10).isoformat(),
        "start": sf.at(org, sf.future_day(10), 11).isoformat(),
        "q": "Cliente",
        "next": "/inbox/",
        "reschedule": "1",
    }
    path_values = {
        # Plausible values by converter name, the first of each list; others exercise the resolver's branches.
        "int": [str(conversation.pk), str(appointment.pk), str(log.pk), str(message.pk), str(foreign.pk)],
        "slug": [org.slug, "no-such-org"],
        "str": [token, str(channel.public_id)],
        "path": ["1"],
        "uuid": [str(channel.public_id)],
        "org_slug": [org.slug],
        "token": [token],
        "channel_id": [str(channel.public_id)],
        "action": ["confirm", "cancel", "explode"],
        "pk": [str(appointment.pk), str(conversation.pk)],
        "conversation_id": [str(conversation.pk), str(foreign.pk)],
        "message_id": [str(message.pk)],
        "log_id": [str(log.pk)],
    }
    users = {"anonymous": None, "agent": tenant_a.agent, "viewer": tenant_a.viewer, "org_admin": tenant_a.admin}
    return World(org=org, users=users, base=base, path_values=path_values)


# --- the URL patterns ------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


@dataclass(frozen=True)
class Route:
    template: str  # "book/<slug:org_slug>/manage/<str:token>/"
    name: str
    callback: object

    @property
    def placeholders(self):
        return [(m.group("converter") or "str", m.group("name")) for m in PLACEHOLDER.finditer(self.template)]


def _route_of(pattern) -> str | None:
    if isinstance(pattern, RoutePattern):
        return str(pattern._route)
    if isinstance(pattern, RegexPattern):
        regex = pattern._regex.lstrip("^").rstrip("$").replace("\\Z", "")
        # Named groups become placeholders; the rest must be literal to be drivable.
        regex = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<re:\1>", regex)
        return None if re.search(r"[()\[\]*+?|\\]", regex) else regex
    return None


def all_routes(patterns=None, prefix: str = "", namespace: str = "") -> list[Route]:
    routes = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = _route_of(entry.pattern)
        if route is None:
            continue
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            routes += all_routes(entry.url_patterns, prefix + route, ns)
        elif isinstance(entry, URLPattern):
            routes.append(Route(prefix + route, f"{namespace}{entry.name or ''}", entry.callback))
    return routes


ROUTES = all_routes()
SITE_ROUTES = [r for r in ROUTES if not r.template.startswith("admin/")]
ADMIN_MODELS = list(admin.site._registry)


def test_the_walk_finds_every_app_and_the_admin():
    names = {r.name for r in ROUTES}
    assert {"dashboard", "inbox:index", "scheduling:book", "conversations:whatsapp-webhook", "admin:index"} <= names
    assert len(SITE_ROUTES) >= 30 and len(ROUTES) > 5 * len(ADMIN_MODELS)


def _fill(route: Route, world: World, override: dict[str, str] | None = None) -> str | None:
    path = route.template
    for converter, name in route.placeholders:
        if override and name in override:
            value = override[name]
        else:
            candidates = world.path_values.get(name) or world.path_values.get(converter) or ["x"]
            value = candidates[0]
        path = path.replace(f"<{converter}:{name}>" if f"<{converter}:{name}>" in path else f"<{name}>", value, 1)
    return "/" + path


HOSTILE_PATH_VALUES = ["0", HUGE, NUL, "x" * 300, "2024-13-45", "..%2F..%2Fetc", "💥"]


# --- the input classes -----------------------------------------------------------------------


def _with(base: dict, **values) -> dict:
    return {**base, **values}


def input_classes(base: dict) -> dict[str, dict | str]:
    """Query strings / form bodies by class; a ``str`` is sent raw (already encoded)."""
    dates = lambda value: {p: value for p in DATE_PARAMS}  # noqa: E731
    instants = lambda value: {p: value for p in INSTANT_PARAMS}  # noqa: E731
    every = lambda value: {p: value for p in (*DATE_PARAMS, *INSTANT_PARAMS, *TEXT_PARAMS, *ID_PARAMS)}  # noqa: E731
    raw_surrogates = "&".join(
        f"{quote(p)}={SURROGATE_RAW}" for p in (*DATE_PARAMS, *INSTANT_PARAMS, *TEXT_PARAMS, *ID_PARAMS, "next")
    )
    return {
        "plausible": dict(base),
        "year_1": _with(base, **dates("0001-01-01"), **instants("0001-01-01T00:00:00+14:00")),
        "year_9999": _with(base, **dates("9999-12-31"), **instants("9999-12-31T23:59:59-12:00")),
        "year_9999_day": _with(base, view="day", **dates("9999-12-31"), **instants("9999-12-31T23:59")),
        "year_1_naive": _with(base, view="day", **dates("0001-01-01"), **instants("0001-01-01T00:00")),
        "garbage_dates": _with(base, **dates("2024-13-45"), **instants("tomorrow at noon")),
        "nul": _with(base, **every(NUL), next="/\x00"),
        "surrogates": raw_surrogates,
        "huge_ints": _with(base, **every(HUGE)),
        "negative_ints": _with(base, **{p: "-1" for p in ID_PARAMS}),
        "garbage": _with(base, **every("'\"<script>;--💥" * 3)),
        **{f"next_{i}": _with(base, next=value) for i, value in enumerate(UNSAFE_NEXT)},
        # A valid action name, so forms get past it to their other fields.
        "assign_huge_agent": _with(base, action="assign", agent=HUGE, state=f"page={HUGE}&queue=-1"),
        "transfer_hostile": _with(base, action="transfer", queue=HUGE, agent="-1", reason="💥" * 2000),
        "priority_garbage": _with(base, action="priority", priority="'\"<>", state="q=" + quote(NUL)),
    }


# --- driving ---------------------------------------------------------------------------------


class Driver:
    def __init__(self, world: World, role: str):
        self.world, self.role = world, role
        self.failures: list[str] = []
        self.requests = 0
        self.client = self._client()

    def _client(self) -> Client:
        client = Client(raise_request_exception=False)
        user = self.world.users[self.role]
        if user is not None:
            client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    def send(self, method: str, path: str, data: dict | str | None = None, label: str = "") -> None:
        errors: list[BaseException] = []

        def record(sender, request=None, **kwargs):
            import sys

            errors.append(sys.exc_info()[1])

        got_request_exception.connect(record)
        try:
            if method == "GET":
                if isinstance(data, str):
                    response = self.client.get(path, QUERY_STRING=data)
                else:
                    response = self.client.get(path, data or {})
            elif isinstance(data, str):
                response = self.client.post(path, data, content_type="application/x-www-form-urlencoded")
            else:
                response = self.client.post(path, data or {})
        finally:
            got_request_exception.disconnect(record)
        self.requests += 1
        where = f"{self.role} {method} {path!r} [{label}]"
        if response.status_code >= 500 and response.status_code not in EXPECTED_5XX.get(path, ()):
            self.failures.append(f"{where}: {response.status_code} {errors[-1]!r}" if errors else where)
        elif 300 <= response.status_code < 400 and "Location" in response:
            location = urlsplit(response["Location"])
            if location.scheme not in ("", "http", "https") or location.netloc not in ("", "testserver"):
                self.failures.append(f"{where}: redirects off-site to {response['Location']!r}")
        if path.startswith("/accounts/logout/") or "/password" in path:
            self.client = self._client()  # logged out (or the session rotated): log in again


def _resolves_to(path: str, route: Route) -> bool:
    try:
        return resolve(path.split("?")[0]).func == route.callback
    except Resolver404:
        return False


@override_settings(DEBUG=False)
@pytest.mark.parametrize("role", ["anonymous", "agent", "viewer", "org_admin"])
def test_no_site_url_answers_5xx(world, role):
    driver = Driver(world, role)
    classes = input_classes(world.base)
    # Actions are posted; two unsafe ``next`` values cover the GET pages that read one (login).
    get_classes = {k: v for k, v in classes.items() if k not in POST_ONLY and k not in ("next_2", "next_3", "next_4")}
    post_classes = {
        k: classes[k]
        for k in (
            "plausible",
            "year_1",
            "year_9999_day",
            "nul",
            "surrogates",
            "huge_ints",
            "next_0",
            "assign_huge_agent",
            "transfer_hostile",
            "priority_garbage",
        )
    }
    driven = 0
    for route in SITE_ROUTES:
        path = _fill(route, world)
        if path is None or not _resolves_to(path, route):
            continue
        driven += 1
        for label, data in get_classes.items():
            driver.send("GET", path, data, label)
        for label, data in post_classes.items():
            driver.send("POST", path, data, label)
        for _converter, name in route.placeholders:
            for value in HOSTILE_PATH_VALUES + world.path_values.get(name, [])[1:]:
                driver.send("GET", _fill(route, world, {name: value}), None, f"{name}={value[:20]!r}")
                if value in (HUGE, NUL):
                    driver.send("POST", _fill(route, world, {name: value}), world.base, f"{name}={value[:20]!r}")
    assert driven >= 30, driven
    assert not driver.failures, f"{len(driver.failures)} of {driver.requests} requests failed:\n" + "\n".join(
        driver.failures[:60]
    )


# --- the admin -------------------------------------------------------------------------------

DRILL_DOWNS = [
    "{f}__year=99999",
    "{f}__year=9999",
    "{f}__year=9999&{f}__month=12",
    "{f}__year=9999&{f}__month=12&{f}__day=31",
    "{f}__year=1&{f}__month=1&{f}__day=1",
    "{f}__year=0",
    "{f}__year=2024&{f}__month=13",
    "{f}__year=x",
    "{f}__gte=9999-12-31&{f}__lt=0001-01-01",
    "{f}__gte=garbage",
]
LIST_PARAMS = [
    "q=" + quote(NUL),
    "q=" + SURROGATE_RAW,
    "q=" + HUGE,
    "o=" + HUGE,
    "o=-99.x",
    "p=" + HUGE,
    "p=-1",
    "all=&_popup=1&_to_field=password",
    "nonexistent_field=1",
    "id__gt=" + HUGE,
    "e=1",
]


def _date_fields(model) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if f.get_internal_type() in ("DateField", "DateTimeField")]


def _admin_paths(model, pk) -> dict[str, str]:
    base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    paths = {"changelist": base, "add": f"{base}add/"}
    if pk is not None:
        paths |= {"change": f"{base}{pk}/change/", "delete": f"{base}{pk}/delete/", "history": f"{base}{pk}/history/"}
    return paths


@override_settings(DEBUG=False)
@pytest.mark.parametrize("role", ["org_admin", "superuser"])
def test_no_admin_url_answers_5xx(world, tenant_a, tenant_b, superuser, role):
    world.users["superuser"] = superuser
    driver = Driver(world, role)
    builders = factories.tenant_row_builders()
    hostile_post = {
        **{f.name: HUGE for m in ADMIN_MODELS for f in m._meta.concrete_fields},
    }
    # Org admins drive the tenant-scoped admins; the superuser the others (auth, Celery Beat, axes).
    models = [
        m for m in ADMIN_MODELS if isinstance(admin.site._registry[m], TenantScopedAdmin) == (role == "org_admin")
    ]
    assert models
    for model in models:
        row = builders[model](tenant_a.org) if model in builders else model._default_manager.order_by("pk").first()
        foreign = builders[model](tenant_b.org) if model in builders else None
        paths = _admin_paths(model, row.pk if row is not None else None)
        model_admin = admin.site._registry[model]
        fields = _date_fields(model)
        hierarchy = [model_admin.date_hierarchy] if model_admin.date_hierarchy else []
        for f in dict.fromkeys(hierarchy + fields[:1]):
            for params in DRILL_DOWNS:
                driver.send("GET", paths["changelist"], params.format(f=f), params)
        for params in LIST_PARAMS:
            driver.send("GET", paths["changelist"], params, params)
        for name, path in paths.items():
            driver.send("GET", path, None, name)
            if name in ("add", "change"):
                driver.send("POST", path, hostile_post, f"{name} hostile")
                driver.send("POST", path, {"name": NUL}, f"{name} NUL")
                driver.send("POST", path, f"name={SURROGATE_RAW}&phone={SURROGATE_RAW}", f"{name} surrogates")
        driver.send("GET", paths["changelist"] + f"{HUGE}/change/", None, "huge pk")
        driver.send("GET", paths["changelist"] + f"{quote(NUL)}/change/", None, "NUL pk")
        if foreign is not None:
            driver.send("GET", _admin_paths(model, foreign.pk)["change"], None, "foreign")
    for path in ("/admin/", "/admin/accounts/", "/admin/jsi18n/", "/admin/autocomplete/", "/admin/r/1/1/"):
        driver.send("GET", path, "term=" + quote(NUL) + "&app_label=x&model_name=y&field_name=z", "extra")
    driver.send("GET", f"/admin/r/{HUGE}/{HUGE}/", None, "huge shortcut")
    assert not driver.failures, f"{len(driver.failures)} of {driver.requests} requests failed:\n" + "\n".join(
        driver.failures[:60]
    )
