"""The OpenAPI schema: drf-spectacular, with the problem-details answers on every operation."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "example": "urn:pytake:problem:validation"},
        "title": {"type": "string", "example": "Invalid input"},
        "status": {"type": "integer", "example": 400},
        "detail": {"type": "string"},
        "instance": {"type": "string", "example": "/api/v1/contacts/"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message", "code"],
                "properties": {
                    "field": {"type": "string", "example": "phone"},
                    "message": {"type": "string"},
                    "code": {"type": "string"},
                },
            },
        },
    },
}

RATE_HEADERS = {
    name: {"schema": {"type": "string"}, "description": text}
    for name, text in [
        ("RateLimit-Limit", "Requests allowed in the window."),
        ("RateLimit-Remaining", "Requests left in the window."),
        ("RateLimit-Reset", "Seconds until the window resets."),
    ]
}

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    name="Idempotency-Key",
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (e.g. a UUID): a retry with the same key within 24 h returns the first answer.",
)


def _problem(description: str, headers: dict | None = None) -> dict:
    answer = {"description": description, "content": {"application/problem+json": {"schema": PROBLEM}}}
    if headers:
        answer["headers"] = headers
    return answer


class ProblemAutoSchema(AutoSchema):
    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method == "POST":
            parameters.append(IDEMPOTENCY_PARAMETER)
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in [
            ("400", "Invalid input (with the fields at fault)."),
            ("401", "No valid credentials."),
            ("403", "Not allowed: a missing scope, a viewer's role, a read-only organization."),
            ("429", "Over the rate limit; see Retry-After."),
        ]:
            responses.setdefault(
                code, _problem(description, {"Retry-After": {"schema": {"type": "string"}}} if code == "429" else None)
            )
        if self.method != "GET" or self._is_a_detail():
            responses.setdefault("404", _problem("Not found (or not yours)."))
        if self.method not in ("GET", "DELETE"):
            responses.setdefault(
                "409", _problem("Conflicts with the current state (e.g. an idempotent request in progress).")
            )
            responses.setdefault("422", _problem("Refused by a rule (the message says which)."))
        for code, answer in responses.items():
            if code.startswith("2"):
                answer.setdefault("headers", {}).update(RATE_HEADERS)
        return responses

    def _is_a_detail(self) -> bool:
        return "{" in self.path
