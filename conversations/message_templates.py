"""WhatsApp message templates: validating components, listing variables, rendering a send.

Pure functions over a ``WhatsAppTemplate`` (or anything with its attributes): nothing here writes
to the database or talks to the network. Components are kept in the Graph API's format, as
``GET /<waba-id>/message_templates`` returns them and ``POST`` takes them::

    [{"type": "HEADER", "format": "TEXT", "text": "Pedido {{1}}", "example": {"header_text": ["8123"]}},
     {"type": "BODY", "text": "Olá {{1}}, seu pedido chega {{2}}.", "example": {"body_text": [["Ana", "amanhã"]]}},
     {"type": "FOOTER", "text": "Loja Acme"},
     {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Confirmar"},
                                     {"type": "URL", "text": "Rastrear", "url": "https://acme.test/t/{{1}}",
                                      "example": ["https://acme.test/t/8123"]},
                                     {"type": "PHONE_NUMBER", "text": "Ligar", "phone_number": "+5511955550000"}]}]

With ``parameter_format`` ``named`` the header and body use ``{{first_name}}`` and their examples
are ``header_text_named_params`` / ``body_text_named_params``; a URL button's variable is always
``{{1}}``.

A variable is addressed by a stable ``ref``: ``header.1`` / ``header.<name>`` (a text header),
``header.media`` (the link or media id of an image, video or document header), ``body.1`` /
``body.<name>``, ``button.<index>.1`` (a URL button's suffix). A quick-reply button may carry a
payload, given as ``button.<index>.payload`` (optional: it is not a variable).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import formats, timezone
from django.utils.translation import gettext as _

VARIABLE_RE = re.compile(r"\{\{([^{}]*)\}\}")
POSITIONAL_NAME_RE = re.compile(r"^[1-9][0-9]*$")
NAMED_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
TEMPLATE_NAME_RE = re.compile(r"^[a-z0-9_]+$")

POSITIONAL = "positional"
NAMED = "named"
COMPONENT_TYPES = ("HEADER", "BODY", "FOOTER", "BUTTONS")
MEDIA_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")
HEADER_FORMATS = ("TEXT", *MEDIA_FORMATS)
BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER")

HEADER_TEXT_MAX = 60
BODY_TEXT_MAX = 1024
FOOTER_TEXT_MAX = 60
BUTTON_TEXT_MAX = 25
BUTTONS_MAX = 10
URL_BUTTONS_MAX = 2
PHONE_BUTTONS_MAX = 1
PAYLOAD_MAX = 256

# Where each source's values come from, and the contact fields a mapping may name.
SOURCES = ("contact", "custom_field", "appointment", "value")
CONTACT_FIELDS = ("name", "first_name", "phone", "email")


@dataclass(frozen=True)
class TemplateVariable:
    ref: str  # "header.1", "header.media", "body.1", "body.first_name", "button.2.1"
    component: str  # "header", "body" or "button"
    label: str  # what a person reads: “Body {{first_name}}”
    example: str = ""


@dataclass(frozen=True)
class RenderedTemplate:
    graph_template: dict  # the "template" object of a Graph API messages POST
    text: str  # the message as the agent sees it in the conversation


# --- Validation ----------------------------------------------------------------------------------


def _braced(name) -> str:
    return "{{" + str(name) + "}}"


def _names_in(text: str) -> list[str]:
    """Variable names in order of first appearance (``{{1}}`` gives ``"1"``)."""
    seen: list[str] = []
    for match in VARIABLE_RE.finditer(text or ""):
        if match.group(1) not in seen:
            seen.append(match.group(1))
    return seen


def _check_names(names: list[str], parameter_format: str, where: str, errors: list[str]) -> None:
    if parameter_format == NAMED:
        for name in names:
            if not NAMED_NAME_RE.match(name):
                errors.append(
                    _(
                        "%(where)s: “{{%(name)s}}” is not a named variable: use lowercase letters, digits and "
                        "underscores, starting with a letter (e.g. {{first_name}})."
                    )
                    % {"where": where, "name": name}
                )
        return
    for name in names:
        if not POSITIONAL_NAME_RE.match(name):
            errors.append(
                _(
                    "%(where)s: “{{%(name)s}}” is not a positional variable: use {{1}}, {{2}}… or set the "
                    "parameter format to named."
                )
                % {"where": where, "name": name}
            )
            return
    numbers = sorted(int(name) for name in names)
    if numbers != list(range(1, len(numbers) + 1)):
        errors.append(
            _("%(where)s: positional variables must be numbered {{1}}, {{2}}… without gaps (found %(found)s).")
            % {"where": where, "found": ", ".join(_braced(n) for n in numbers)}
        )


def _check_examples(component: dict, names: list[str], parameter_format: str, kind: str, where: str, errors) -> None:
    """Meta refuses a template whose variables have no examples; check them before submitting."""
    if not names:
        return
    example = component.get("example")
    example = example if isinstance(example, dict) else {}
    if parameter_format == NAMED:
        given = example.get(f"{kind}_text_named_params")
        by_name = {}
        if isinstance(given, list):
            for item in given:
                if isinstance(item, dict) and isinstance(item.get("param_name"), str):
                    by_name[item["param_name"]] = item.get("example")
        missing = [name for name in names if not (isinstance(by_name.get(name), str) and by_name[name].strip())]
        if missing:
            errors.append(
                _("%(where)s: give an example for %(names)s in “%(key)s” ([{“param_name”: …, “example”: …}]).")
                % {
                    "where": where,
                    "names": ", ".join(_braced(n) for n in missing),
                    "key": f"{kind}_text_named_params",
                }
            )
        return
    given = example.get(f"{kind}_text")
    if kind == "body":
        given = given[0] if isinstance(given, list) and given and isinstance(given[0], list) else None
    if (
        not isinstance(given, list)
        or len(given) != len(names)
        or not all(isinstance(v, str) and v.strip() for v in given)
    ):
        shape = "[[…, …]]" if kind == "body" else "[…]"
        errors.append(
            _("%(where)s: give one example per variable (%(count)d) in “%(key)s”: %(shape)s.")
            % {"where": where, "count": len(names), "key": f"{kind}_text", "shape": shape}
        )


def _text(component: dict, where: str, limit: int, errors: list[str], *, required: bool = True) -> str:
    text = component.get("text")
    if text is None and not required:
        return ""
    if not isinstance(text, str) or not text.strip():
        errors.append(_("%(where)s: the text is required.") % {"where": where})
        return ""
    if len(text) > limit:
        errors.append(
            _("%(where)s: the text has %(length)d characters; the limit is %(limit)d.")
            % {"where": where, "length": len(text), "limit": limit}
        )
    return text


def _validate_header(component: dict, parameter_format: str, errors: list[str]) -> None:
    where = _("Header")
    header_format = component.get("format")
    if header_format not in HEADER_FORMATS:
        errors.append(
            _("Header: the format must be one of %(formats)s (got “%(value)s”).")
            % {"formats": ", ".join(HEADER_FORMATS), "value": header_format}
        )
        return
    if header_format in MEDIA_FORMATS:
        example = component.get("example")
        handles = example.get("header_handle") if isinstance(example, dict) else None
        if not isinstance(handles, list) or not handles or not all(isinstance(h, str) and h for h in handles):
            errors.append(
                _(
                    "Header: an %(format)s header needs an example media handle in “example.header_handle” "
                    "(from Meta's resumable upload API)."
                )
                % {"format": header_format.lower()}
            )
        return
    text = _text(component, where, HEADER_TEXT_MAX, errors)
    names = _names_in(text)
    if len(names) > 1:
        errors.append(
            _("Header: a text header may have one variable at most (found %(count)d).") % {"count": len(names)}
        )
    _check_names(names, parameter_format, where, errors)
    _check_examples(component, names, parameter_format, "header", where, errors)


def _validate_body(component: dict, parameter_format: str, errors: list[str]) -> None:
    where = _("Body")
    text = _text(component, where, BODY_TEXT_MAX, errors)
    names = _names_in(text)
    _check_names(names, parameter_format, where, errors)
    stripped = text.strip()
    if names and (VARIABLE_RE.match(stripped) or re.search(r"\{\{[^{}]*\}\}$", stripped)):
        errors.append(_("Body: Meta does not accept a variable at the very start or end of the text."))
    _check_examples(component, names, parameter_format, "body", where, errors)


def _validate_footer(component: dict, errors: list[str]) -> None:
    text = _text(component, _("Footer"), FOOTER_TEXT_MAX, errors)
    if _names_in(text):
        errors.append(_("Footer: the footer cannot have variables."))


def _validate_buttons(component: dict, errors: list[str]) -> None:
    buttons = component.get("buttons")
    if not isinstance(buttons, list) or not buttons:
        errors.append(_("Buttons: “buttons” must be a list of one to %(max)d buttons.") % {"max": BUTTONS_MAX})
        return
    if len(buttons) > BUTTONS_MAX:
        errors.append(
            _("Buttons: at most %(max)d buttons (found %(count)d).") % {"max": BUTTONS_MAX, "count": len(buttons)}
        )
    counts = {kind: 0 for kind in BUTTON_TYPES}
    for index, button in enumerate(buttons):
        where = _("Button %(number)d") % {"number": index + 1}
        if not isinstance(button, dict) or button.get("type") not in BUTTON_TYPES:
            kind = button.get("type") if isinstance(button, dict) else None
            errors.append(
                _("%(where)s: the type must be one of %(types)s (got “%(value)s”).")
                % {"where": where, "types": ", ".join(BUTTON_TYPES), "value": kind}
            )
            continue
        counts[button["type"]] += 1
        _text(button, where, BUTTON_TEXT_MAX, errors)
        if button["type"] == "URL":
            url = button.get("url")
            if not isinstance(url, str) or not re.match(r"^https?://[^\s]+$", url):
                errors.append(_("%(where)s: the URL must start with https:// (or http://).") % {"where": where})
                continue
            names = _names_in(url)
            if names and (names != ["1"] or not url.endswith("{{1}}") or url.count("{{") != 1):
                errors.append(_("%(where)s: a URL may have one variable, {{1}}, at its end only.") % {"where": where})
            elif names:
                example = button.get("example")
                if not isinstance(example, list) or len(example) != 1 or not isinstance(example[0], str):
                    errors.append(
                        _("%(where)s: give an example of the full URL in “example”: [“https://…”].") % {"where": where}
                    )
        elif button["type"] == "PHONE_NUMBER":
            phone = button.get("phone_number")
            if not isinstance(phone, str) or not re.match(r"^\+?[0-9]{6,20}$", phone):
                errors.append(
                    _("%(where)s: “phone_number” must be a phone number in international format.") % {"where": where}
                )
    if counts["URL"] > URL_BUTTONS_MAX:
        errors.append(_("Buttons: at most %(max)d URL buttons.") % {"max": URL_BUTTONS_MAX})
    if counts["PHONE_NUMBER"] > PHONE_BUTTONS_MAX:
        errors.append(_("Buttons: at most %(max)d phone number button.") % {"max": PHONE_BUTTONS_MAX})


def validate_components(components: Any, parameter_format: str = POSITIONAL) -> None:
    """Raise ``ValidationError`` listing every problem of ``components`` (Graph API format)."""
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise ValidationError(
            _("Components must be a list of objects, each with a “type” (HEADER, BODY, FOOTER, BUTTONS)."),
            code="components_type",
        )
    errors: list[str] = []
    seen: dict[str, int] = {}
    for component in components:
        kind = component.get("type")
        if kind not in COMPONENT_TYPES:
            errors.append(
                _("A component's type must be one of %(types)s (got “%(value)s”).")
                % {"types": ", ".join(COMPONENT_TYPES), "value": kind}
            )
            continue
        seen[kind] = seen.get(kind, 0) + 1
        if seen[kind] == 2:
            errors.append(_("A template has at most one %(type)s component.") % {"type": kind})
        if kind == "HEADER":
            _validate_header(component, parameter_format, errors)
        elif kind == "BODY":
            _validate_body(component, parameter_format, errors)
        elif kind == "FOOTER":
            _validate_footer(component, errors)
        else:
            _validate_buttons(component, errors)
    if "BODY" not in seen:
        errors.append(_("A template needs a BODY component with the message text."))
    if errors:
        raise ValidationError(errors, code="components_invalid")


# --- Variables -----------------------------------------------------------------------------------


def _component(template, kind: str) -> dict | None:
    components = template.components if isinstance(template.components, list) else []  # an invalid form's value
    for component in components:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == kind:
            return component
    return None


def _buttons(template) -> list[dict]:
    component = _component(template, "BUTTONS")
    buttons = component.get("buttons") if component else None
    return [b for b in buttons if isinstance(b, dict)] if isinstance(buttons, list) else []


def _examples(component: dict, kind: str, names: list[str]) -> dict[str, str]:
    example = component.get("example") if isinstance(component.get("example"), dict) else {}
    named = example.get(f"{kind}_text_named_params")
    if isinstance(named, list):
        return {
            str(item.get("param_name")): str(item.get("example") or "")
            for item in named
            if isinstance(item, dict) and item.get("param_name")
        }
    positional = example.get(f"{kind}_text")
    if kind == "body" and isinstance(positional, list) and positional and isinstance(positional[0], list):
        positional = positional[0]
    if isinstance(positional, list):
        return {str(n + 1): str(v) for n, v in enumerate(positional)}
    return {}


def _ordered(names: list[str], parameter_format: str) -> list[str]:
    if parameter_format == NAMED:
        return names
    return sorted(names, key=lambda n: int(n) if n.isdigit() else 0)


def _format_of(template) -> str:
    return NAMED if getattr(template, "parameter_format", POSITIONAL) == NAMED else POSITIONAL


def template_variables(template) -> list[TemplateVariable]:
    """Every value a send of ``template`` needs, in the order of the message."""
    parameter_format = _format_of(template)
    variables: list[TemplateVariable] = []
    header = _component(template, "HEADER")
    if header is not None:
        header_format = str(header.get("format", "TEXT")).upper()
        if header_format in MEDIA_FORMATS:
            labels = {
                "IMAGE": _("Header image (link or media id)"),
                "VIDEO": _("Header video (link or media id)"),
                "DOCUMENT": _("Header document (link or media id)"),
            }
            variables.append(TemplateVariable("header.media", "header", labels[header_format]))
        elif header_format == "TEXT":
            names = _names_in(str(header.get("text") or ""))
            examples = _examples(header, "header", names)
            for name in _ordered(names, parameter_format):
                variables.append(
                    TemplateVariable(
                        f"header.{name}", "header", _("Header {{%(name)s}}") % {"name": name}, examples.get(name, "")
                    )
                )
    body = _component(template, "BODY")
    if body is not None:
        names = _names_in(str(body.get("text") or ""))
        examples = _examples(body, "body", names)
        for name in _ordered(names, parameter_format):
            variables.append(
                TemplateVariable(
                    f"body.{name}", "body", _("Body {{%(name)s}}") % {"name": name}, examples.get(name, "")
                )
            )
    for index, button in enumerate(_buttons(template)):
        url = str(button.get("url") or "")
        if str(button.get("type", "")).upper() == "URL" and _names_in(url):
            # Meta's example is the whole URL; the variable is what replaces {{1}} at its end.
            example = button.get("example")
            prefix = url.split("{{", 1)[0]
            example = [str(example[0]).removeprefix(prefix)] if isinstance(example, list) and example else []
            variables.append(
                TemplateVariable(
                    f"button.{index}.1",
                    "button",
                    _("Button “%(text)s” link {{1}}") % {"text": button.get("text", "")},
                    str(example[0]) if isinstance(example, list) and example else "",
                )
            )
    return variables


def quick_reply_payload_refs(template) -> list[str]:
    """The optional ``button.<index>.payload`` refs of the template's quick-reply buttons."""
    return [
        f"button.{index}.payload"
        for index, button in enumerate(_buttons(template))
        if str(button.get("type", "")).upper() == "QUICK_REPLY"
    ]


# --- Rendering -----------------------------------------------------------------------------------


def _param_text(value: str) -> str:
    # Meta refuses parameters with new lines, tabs or more than four spaces in a row (error 132018).
    return " ".join(str(value).split())


def _substitute(text: str, values: dict[str, str], prefix: str) -> str:
    return VARIABLE_RE.sub(lambda m: _param_text(values.get(f"{prefix}.{m.group(1)}", m.group(0))), text)


def _unsupported(what: str) -> ValidationError:
    return ValidationError(
        _("This template has %(what)s, which PyTake cannot send yet.") % {"what": what}, code="template_unsupported"
    )


def _media_parameter(kind: str, value: str) -> dict:
    source = {"link": value} if re.match(r"^https?://", value) else {"id": value}
    return {"type": kind, kind: source}


def template_render(*, template, values: dict[str, str]) -> RenderedTemplate:
    """The Graph API ``template`` object and the preview text of a send of ``template``.

    Refuses, before anything is sent, a template that is not approved and a send where any
    variable is missing or blank: the ``ValidationError`` names every such variable by its label.
    Keys of ``values`` that are not refs of the template are ignored. Components without
    parameters are left out of ``components`` (Meta takes their text from the template).
    """
    if template.status != "approved":
        raise ValidationError(
            _("The template “%(name)s” (%(language)s) is %(status)s, not approved by Meta: it cannot be sent.")
            % {"name": template.name, "language": template.language, "status": template.get_status_display()},
            code="template_not_approved",
        )
    values = {key: "" if value is None else str(value) for key, value in (values or {}).items()}
    variables = template_variables(template)
    problems = []
    for variable in variables:
        if variable.ref not in values:
            problems.append(_("%(label)s is missing.") % {"label": variable.label})
        elif not values[variable.ref].strip():
            problems.append(_("%(label)s is empty.") % {"label": variable.label})
    if problems:
        raise ValidationError(problems, code="template_variables")
    return _render(template, values)


def template_preview(*, template, values: dict[str, str] | None = None) -> str:
    """The message text with ``values`` where given, else each variable's example, else ``{{name}}``.

    For pages that show a template before every value is known (the admin, a picker); unlike
    ``template_render`` it accepts any status and incomplete values, and sends nothing anywhere.
    """
    given = {key: str(value) for key, value in (values or {}).items() if value is not None and str(value).strip()}
    filled = {}
    for variable in template_variables(template):
        placeholder = _braced(variable.ref.split(".")[-1])
        filled[variable.ref] = given.get(variable.ref) or variable.example or placeholder
    return _render(template, {**given, **filled}).text


def _render(template, values: dict[str, str]) -> RenderedTemplate:
    parameter_format = _format_of(template)
    components: list[dict] = []
    lines: list[str] = []

    def text_parameter(ref: str, name: str) -> dict:
        parameter = {"type": "text", "text": _param_text(values[ref])}
        if parameter_format == NAMED:
            parameter["parameter_name"] = name
        return parameter

    header = _component(template, "HEADER")
    if header is not None:
        header_format = str(header.get("format", "TEXT")).upper()
        if header_format in MEDIA_FORMATS:
            kind = header_format.lower()
            value = values["header.media"].strip()
            components.append({"type": "header", "parameters": [_media_parameter(kind, value)]})
            media_names = {"image": _("Image"), "video": _("Video"), "document": _("Document")}
            lines.append(f"[{media_names[kind]}]")
        elif header_format == "TEXT":
            text = str(header.get("text") or "")
            names = _ordered(_names_in(text), parameter_format)
            if names:
                components.append({"type": "header", "parameters": [text_parameter(f"header.{n}", n) for n in names]})
            lines.append(_substitute(text, values, "header"))
        else:
            raise _unsupported(_("a %(format)s header") % {"format": header_format.lower()})
    body = _component(template, "BODY")
    if body is not None:
        text = str(body.get("text") or "")
        names = _ordered(_names_in(text), parameter_format)
        if names:
            components.append({"type": "body", "parameters": [text_parameter(f"body.{n}", n) for n in names]})
        lines.append(_substitute(text, values, "body"))
    footer = _component(template, "FOOTER")
    if footer is not None and footer.get("text"):
        lines.append(str(footer["text"]))
    button_lines = []
    for index, button in enumerate(_buttons(template)):
        kind = str(button.get("type", "")).upper()
        label = str(button.get("text") or "")
        if kind == "QUICK_REPLY":
            payload = values.get(f"button.{index}.payload", "").strip()
            if payload:
                components.append(
                    {
                        "type": "button",
                        "sub_type": "quick_reply",
                        "index": str(index),
                        "parameters": [{"type": "payload", "payload": payload[:PAYLOAD_MAX]}],
                    }
                )
            button_lines.append(f"[{label}]")
        elif kind == "URL":
            url = str(button.get("url") or "")
            if _names_in(url):
                suffix = values[f"button.{index}.1"].strip()
                components.append(
                    {
                        "type": "button",
                        "sub_type": "url",
                        "index": str(index),
                        "parameters": [{"type": "text", "text": suffix}],
                    }
                )
                url = VARIABLE_RE.sub(suffix, url)
            button_lines.append(f"[{label}] {url}")
        elif kind == "PHONE_NUMBER":
            button_lines.append(f"[{label}] {button.get('phone_number', '')}")
        else:
            raise _unsupported(_("a %(type)s button") % {"type": kind.lower().replace("_", " ")})
    if button_lines:
        lines.append("\n".join(button_lines))
    graph_template: dict = {"name": template.name, "language": {"code": template.language}}
    if components:
        graph_template["components"] = components
    return RenderedTemplate(graph_template=graph_template, text="\n\n".join(line for line in lines if line))


# --- Mapping variables to data -------------------------------------------------------------------


def validate_mapping(template, mapping: dict, *, require_all: bool = False) -> None:
    """Check a mapping of refs to sources; raises ``ValidationError`` listing every problem.

    Each value is ``{"source": "contact", "field": "name"}``, ``{"source": "custom_field",
    "field": "plan"}``, ``{"source": "appointment", "field": "starts_at"}`` or ``{"source":
    "value", "value": "text"}``. With ``require_all`` every variable of the template must be mapped.
    """
    if not isinstance(mapping, dict):
        raise ValidationError(_("The variable mapping must be an object of variables to sources."), code="mapping")
    variables = {v.ref: v for v in template_variables(template)}
    known = list(variables) + quick_reply_payload_refs(template)
    errors: list[str] = []
    for ref, spec in mapping.items():
        if ref not in known:
            errors.append(
                _("“%(ref)s” is not a variable of the template “%(name)s” (its variables: %(refs)s).")
                % {"ref": ref, "name": template.name, "refs": ", ".join(known) or _("none")}
            )
            continue
        label = variables[ref].label if ref in variables else ref
        if not isinstance(spec, dict):
            errors.append(_("%(label)s: give an object with a “source”.") % {"label": label})
            continue
        source = spec.get("source")
        if source not in SOURCES:
            errors.append(
                _("%(label)s: the source must be one of %(sources)s (got “%(source)s”).")
                % {"label": label, "sources": ", ".join(SOURCES), "source": source}
            )
            continue
        if source == "value":
            if not isinstance(spec.get("value"), str):
                errors.append(_("%(label)s: a typed value needs its text in “value”.") % {"label": label})
            continue
        field = spec.get("field")
        if not isinstance(field, str) or not field.strip():
            errors.append(_("%(label)s: name the %(source)s field in “field”.") % {"label": label, "source": source})
        elif source == "contact" and field not in CONTACT_FIELDS:
            errors.append(
                _("%(label)s: the contact has no field “%(field)s” (use one of %(fields)s).")
                % {"label": label, "field": field, "fields": ", ".join(CONTACT_FIELDS)}
            )
    if require_all:
        for ref, variable in variables.items():
            if ref not in mapping:
                errors.append(_("%(label)s is not mapped to a source.") % {"label": variable.label})
    if errors:
        raise ValidationError(errors, code="mapping")


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return formats.date_format(value, "SHORT_DATETIME_FORMAT")
    if isinstance(value, dt.date):
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    if isinstance(value, dt.time):
        return formats.time_format(value, "TIME_FORMAT")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


def resolve_values(*, template, mapping: dict, sources: dict[str, dict]) -> dict[str, str]:
    """The ``values`` for ``template_render`` from a mapping and the caller's data.

    ``sources`` holds a dict per source (``{"contact": {...}, "custom_field": {...},
    "appointment": {...}}``; see ``contact_sources``). A field a source lacks resolves to ``""``,
    so ``template_render`` then names every variable left empty at once. Dates and times are
    formatted in the active time zone and language: activate the organization's before calling.
    """
    validate_mapping(template, mapping)
    return {ref: mapped_value(spec, sources) for ref, spec in mapping.items()}


def mapped_value(spec: dict, sources: dict[str, dict]) -> str:
    """The text one mapping entry resolves to (``resolve_values`` without the mapping's validation)."""
    if spec["source"] == "value":
        return spec["value"]
    source = sources.get(spec["source"]) or {}
    return _as_text(source.get(spec["field"]))


def contact_sources(contact) -> dict[str, dict]:
    """The ``contact`` and ``custom_field`` sources of ``resolve_values`` for a Contact."""
    name = (contact.name or "").strip()
    return {
        "contact": {
            "name": name,
            "first_name": name.split()[0] if name else "",
            "phone": contact.phone or "",
            "email": contact.email or "",
        },
        "custom_field": {key: _as_text(value) for key, value in (contact.custom_fields or {}).items()},
    }
