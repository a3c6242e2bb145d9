"""Step types, registered by name. Importing this package registers every built-in type."""

from journeys.steps import flow, send, wait  # noqa: F401  (registration)
from journeys.steps.base import Context, Result, StepSpec, StepType, register, registry

__all__ = ["Context", "Result", "StepSpec", "StepType", "register", "registry"]
