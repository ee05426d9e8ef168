"""Read docker/compose.yaml the way Docker Compose does, to run its services' commands here.

Only what the tests need: YAML with anchors and merge keys (PyYAML), and
Compose's variable interpolation (`${VAR}`, `${VAR:-default}`,
`${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `$$` for a literal `$`).
"""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker" / "compose.yaml"
DOCKERFILE = REPO / "docker" / "Dockerfile"
OUR_IMAGE = "betreco:latest"

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})"
)


class MissingVariable(ValueError):
    """A `${VAR:?message}` whose variable is unset (Compose refuses to start)."""


def interpolate(text: str, variables: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"]
        value = variables.get(name)
        if op in (":-", ":?") and value == "":
            value = None
        if value is not None:
            return value
        if op and op.endswith("?"):
            raise MissingVariable(f"{name}: {arg}")
        return arg if op else ""

    return _VARIABLE.sub(replace, text)


def load(variables: dict[str, str] | None = None) -> dict:
    """The compose file as a dict; with `variables`, interpolated first as Compose would."""
    text = COMPOSE_FILE.read_text()
    if variables is not None:
        text = interpolate(text, variables)
    return yaml.safe_load(text)


def our_services(compose: dict) -> dict[str, dict]:
    """The services that run the betreco image (not Kafka, not PostgreSQL)."""
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image") == OUR_IMAGE
    }


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}
