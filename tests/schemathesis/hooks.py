"""schemathesis hooks for the mosaic gateway (scripts/schemathesis.sh loads them).

Custom checks for what the contract adds to the OpenAPI document: every error answer is
`{"error": {"code", "message"}}` with the code of its status, and every answer carries
`Cache-Control: no-store`.

A `before_call` hook keeps the positive phases to what the document calls valid where the
document cannot say it all: an enrollment gets a real P-256 CSR (a random string is never
a valid CSR); a grant's `expires_at` in the past moves into the future; a resource both
granted and excluded stays granted only; a made-up `cursor` is dropped (only a cursor the
gateway handed out is valid); a row `id` repeated in one import is made unique (one
`id` twice is refused, and JSON Schema cannot say "unique by one field"); and an `id` that schemathesis copied into a path from
another answer's field (a grant's free-text `peer_id`, say) without checking the path's
pattern is replaced by a well-formed unknown ID.
"""

import datetime
import os
import re

import schemathesis
from schemathesis import GenerationMode

# The codes of each error status (docs/gateway.md, "Conventions" and the data plane).
CODES = {
    400: {"invalid_request"},
    401: {"unauthorized", "certificate_required"},
    403: {"forbidden_role", "unknown_certificate", "grant_inactive", "out_of_scope", "certificate_expired", "peer_refused"},
    404: {"not_found"},
    405: {"method_not_allowed"},
    408: {"request_timeout"},
    409: {"conflict"},
    410: {"token_invalid"},
    413: {"payload_too_large"},
    414: {"uri_too_long"},
    429: {"rate_limited"},
    431: {"headers_too_large"},
    500: {"internal"},
    502: {"peer_unreachable", "peer_untrusted"},
}

CSR = os.environ["MOSAIC_SCHEMATHESIS_CSR"]

# An ID in a path (docs/openapi.json, `extract::is_path_id` in the gateway).
PATH_ID = re.compile(r"^(?!\.\.?$)[A-Za-z0-9._~-]{1,128}$")


def _header(response, name):
    values = response.headers.get(name.lower(), [])
    return values if isinstance(values, list) else [values]


@schemathesis.check
def error_body_has_the_contract_shape(ctx, response, case):
    """Every 4xx/5xx is {"error": {"code", "message"}} with its status's code."""
    status = response.status_code
    if status < 400:
        return
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, f"error body is not {{error}}: {body!r}"
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, f"bad error object: {error!r}"
    assert isinstance(error["message"], str) and error["message"], f"empty message: {error!r}"
    expected = CODES.get(status)
    assert expected is not None, f"undocumented error status {status}"
    assert error["code"] in expected, f"status {status} with code {error['code']!r}, expected one of {sorted(expected)}"


@schemathesis.check
def every_answer_is_no_store(ctx, response, case):
    """Answers carry tokens, certificates and grants: no cache may keep them."""
    values = _header(response, "cache-control")
    assert values == ["no-store"], f"Cache-Control is {values!r}, not no-store"


def _positive(case):
    meta = getattr(case, "meta", None)
    return meta is None or meta.generation.mode == GenerationMode.POSITIVE


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """Runs in every phase, before the request is made; schemathesis revalidates the edit."""
    _keep_positive_valid(ctx, case)


def _keep_positive_valid(ctx, case):
    operation_id = ctx.operation.definition.raw.get("operationId") if ctx.operation else None
    if not _positive(case):
        return
    if isinstance(case.path_parameters, dict):
        pid = case.path_parameters.get("id")
        if isinstance(pid, str) and not PATH_ID.match(pid):
            case.path_parameters["id"] = "no-such-id"
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
    if not isinstance(case.body, dict):
        return
    if operation_id == "createGrant" and isinstance(case.body.get("scope"), dict):
        scope = case.body["scope"]
        if isinstance(scope.get("excluded_resources"), list) and isinstance(scope.get("resources"), list):
            scope["excluded_resources"] = [r for r in scope["excluded_resources"] if r not in scope["resources"]]
    if operation_id and operation_id.startswith("import") and isinstance(case.body.get("items"), list):
        seen = set()
        for i, row in enumerate(case.body["items"]):
            if isinstance(row, dict) and isinstance(row.get("id"), str):
                n = i
                while row["id"] in seen:
                    row["id"] = f"row-{n}"
                    n += len(case.body["items"])
                seen.add(row["id"])
    if operation_id == "enroll" and "csr_pem" in case.body:
        case.body["csr_pem"] = CSR
    if operation_id == "createGrant" and isinstance(case.body.get("expires_at"), str):
        try:
            when = datetime.datetime.fromisoformat(case.body["expires_at"].replace("z", "Z"))
        except ValueError:
            return
        if when.tzinfo is not None and when <= datetime.datetime.now(datetime.timezone.utc):
            case.body["expires_at"] = "2099-01-01T00:00:00Z"
