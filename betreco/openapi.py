"""OpenAPI post-processing: document the error answers every view can give, in one place.

Views document their successes (and any error of their own, such as a
producer's 400 body); the answers that come from the framework around them
are the same everywhere, so this hook adds them where a view did not:

- 400 (fields named) for operations that take a body or query parameters;
- 401 for operations that accept credentials (bad ones are refused even
  where none are needed; writes need them in production);
- 403 for writes (a session without its CSRF token);
- 404 for operations with a path parameter or a paginated list (a page
  past the end);
- 429 (production throttling of anonymous callers) and 503 (the database
  is unreachable) for every operation.
"""

WRITE_METHODS = {"post", "put", "patch", "delete"}

DETAIL = "ErrorDetail"
FIELDS = "FieldErrors"
COMPONENTS = {
    DETAIL: {
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    FIELDS: {
        "type": "object",
        "description": "Each invalid field (or `non_field_errors`) with its messages.",
        "additionalProperties": True,
    },
}


def _response(description: str, component: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}},
    }


def _errors_of(method: str, operation: dict) -> dict[str, dict]:
    parameters = operation.get("parameters", [])
    query = [p for p in parameters if p.get("in") == "query"]
    errors = {}
    if "requestBody" in operation or query:
        errors["400"] = _response("Invalid input: the fields are named.", FIELDS)
    if any(entry for entry in operation.get("security", [])):
        errors["401"] = _response("Missing or invalid credentials.", DETAIL)
    if method in WRITE_METHODS:
        errors["403"] = _response("Not allowed (e.g. a session without CSRF token).", DETAIL)
    if any(p.get("in") == "path" for p in parameters) or any(p["name"] == "page" for p in query):
        errors["404"] = _response("No such record, or a page past the end.", DETAIL)
    errors["429"] = _response("Too many anonymous requests (production throttling).", DETAIL)
    errors["503"] = _response("The database is unavailable; retry after a few seconds.", DETAIL)
    return errors


def document_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: add the common error answers each operation lacks."""
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, response in _errors_of(method, operation).items():
                operation["responses"].setdefault(code, response)
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in COMPONENTS.items():
        schemas.setdefault(name, schema)
    return result
