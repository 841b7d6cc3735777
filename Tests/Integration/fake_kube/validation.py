"""Validation of objects against the Kubernetes JSON schemas shipped by `kubernetes-validate`,
plus the few semantic checks a real API server makes that matter here (names, labels,
Deployment selector vs. template labels). Validators are built once per kind (the schema
definitions file is large)."""
from __future__ import annotations

import json
import re

import jsonschema
import referencing
from importlib import resources

SCHEMA_VERSION = "1.30.0"  # the Kubernetes schema version, from the pinned kubernetes-validate

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

_cache: dict = {}
_definitions = None


class Invalid(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def _schema_dir():
    return resources.files("kubernetes_validate").joinpath("kubernetes-json-schema", f"v{SCHEMA_VERSION}-local-strict")


def _validator(kind: str, api_version: str):
    global _definitions
    key = (kind, api_version)
    if key in _cache:
        return _cache[key]
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_dir().joinpath(f"{kind.lower()}-{group_version}.json")
    schema = json.loads(path.read_text())
    if _definitions is None:
        _definitions = json.loads(_schema_dir().joinpath("_definitions.json").read_text())
    registry = referencing.Registry()
    registry = referencing.Resource.from_contents(schema) @ registry
    registry = referencing.Resource.from_contents(_definitions) @ registry
    validator = jsonschema.validators.Draft202012Validator(schema, registry=registry)
    _cache[key] = validator
    return validator


def _check_labels(labels, where: str):
    for name, value in (labels or {}).items():
        prefix, _, short = name.rpartition("/")
        if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
            raise Invalid(where, f"Invalid value: \"{name}\": prefix part must be a DNS subdomain")
        if len(short) > 63 or not _LABEL_NAME.match(short):
            raise Invalid(where, f"Invalid value: \"{name}\": name part must consist of alphanumeric characters, '-', '_' or '.'")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            raise Invalid(where, f"Invalid value: \"{value}\": a valid label must be an empty string or consist of "
                                 "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
                                 "character (at most 63 characters)")


def validate(obj: dict) -> None:
    """Raises Invalid when `obj` would be rejected by a real API server."""
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if not kind or not api_version:
        raise Invalid("", "Object 'Kind' or 'apiVersion' is missing")
    try:
        _validator(kind, api_version).validate(obj)
    except FileNotFoundError:
        raise Invalid("", f"no kind \"{kind}\" is registered for version \"{api_version}\"")
    except jsonschema.ValidationError as e:
        raise Invalid(".".join(str(p) for p in e.absolute_path), e.message)
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    if not name:
        raise Invalid("metadata.name", "Required value: name or generateName is required")
    if kind == "Service":
        if len(name) > 63 or not _DNS1035_LABEL.match(name):
            raise Invalid("metadata.name", f"Invalid value: \"{name}\": a DNS-1035 label must consist of lower case "
                                           "alphanumeric characters or '-', start with an alphabetic character, and end "
                                           "with an alphanumeric character (at most 63 characters)")
    elif len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        raise Invalid("metadata.name", f"Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower "
                                       "case alphanumeric characters, '-' or '.'")
    _check_labels(meta.get("labels"), "metadata.labels")
    if kind == "Deployment":
        spec = obj.get("spec") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        _check_labels(template_labels, "spec.template.metadata.labels")
        if not selector:
            raise Invalid("spec.selector", "Required value")
        for k, v in selector.items():
            if template_labels.get(k) != v:
                raise Invalid("spec.template.metadata.labels",
                              f"Invalid value: {json.dumps(template_labels)}: `selector` does not match template `labels`")
        for c in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []:
            if not c.get("image"):
                raise Invalid("spec.template.spec.containers[0].image", "Required value")
            for p in c.get("ports") or []:
                if p.get("name") and (len(p["name"]) > 15 or not _DNS1123_LABEL.match(p["name"])):
                    raise Invalid("spec.template.spec.containers[0].ports.name", f"Invalid value: \"{p['name']}\"")
    if kind == "HorizontalPodAutoscaler":
        spec = obj.get("spec") or {}
        if spec.get("minReplicas", 1) > spec.get("maxReplicas", 0):
            raise Invalid("spec.maxReplicas", "Invalid value: must be greater than or equal to `minReplicas`")
