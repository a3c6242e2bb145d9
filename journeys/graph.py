"""A journey's steps as a graph: build it from the draft, validate it, read it fast."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from journeys.steps import StepSpec, registry


def build(journey) -> dict:
    """The draft's steps as a graph, each step's settings cleaned by its type."""
    steps = list(journey.steps.order_by("position", "id"))
    if not steps:
        raise ValidationError("A journey needs at least one step.")
    errors, graph = [], {"entry": journey.entry_step or steps[0].key, "steps": {}}
    for step in steps:
        step_type = registry.get(step.type)
        if step_type is None:
            errors.append(f"{step.key}: unknown step type {step.type!r}")
            continue
        try:
            settings = step_type.clean(step.settings or {})
        except ValidationError as error:
            errors.append(f"{step.key}: {' '.join(error.messages)}")
            continue
        spec = StepSpec(step.key, step.type, settings, step.next_step, step.yes_step,
                        step.no_step, step.name)  # fmt: skip
        graph["steps"][step.key] = spec.as_dict()
    errors.extend(problems(graph) if not errors else [])
    if errors:
        raise ValidationError(errors)
    return graph


def problems(graph: dict) -> list[str]:
    """Missing targets, unreachable steps, branches without both ways, loops with no wait."""
    steps, found = graph["steps"], []
    if graph["entry"] not in steps:
        return [f"the entry step {graph['entry']!r} does not exist"]
    for key in steps:
        spec = spec_of(graph, key)
        step_type = registry[spec.type]
        for exit_name in step_type.exits:
            if exit_name in ("yes", "no") and not getattr(spec, exit_name):
                found.append(f"{key}: needs a '{exit_name}' step")
        found.extend(
            f"{key}: leads to {target!r}, which does not exist"
            for target in step_type.targets(spec)
            if target not in steps
        )
    unreachable = set(steps) - reachable(graph)
    found.extend(f"{key}: cannot be reached from the entry" for key in sorted(unreachable))
    if loop := loop_without_wait(graph):
        found.append(f"a loop without a wait: {' -> '.join(loop)}")
    return found


def spec_of(graph: dict, key: str) -> StepSpec:
    return StepSpec(key=key, **graph["steps"][key])


def targets(graph: dict, key: str) -> list[str]:
    spec = spec_of(graph, key)
    return [t for t in registry[spec.type].targets(spec) if t in graph["steps"]]


def reachable(graph: dict) -> set[str]:
    seen, todo = set(), [graph["entry"]]
    while todo:
        key = todo.pop()
        if key in seen or key not in graph["steps"]:
            continue
        seen.add(key)
        todo.extend(targets(graph, key))
    return seen


def loop_without_wait(graph: dict) -> list[str] | None:
    """A cycle made only of steps that never wait (it would spin), as a path, or None."""
    quick = {k for k, s in graph["steps"].items() if not registry[s["type"]].waits}
    state: dict[str, int] = {}

    def visit(key: str, path: list[str]) -> list[str] | None:
        state[key] = 1
        for target in targets(graph, key):
            if target not in quick:
                continue
            if state.get(target) == 1:
                return [*path[path.index(target) :], target] if target in path else [key, target]
            if target not in state and (loop := visit(target, [*path, target])):
                return loop
        state[key] = 2
        return None

    for key in quick:
        if key not in state and (loop := visit(key, [key])):
            return loop
    return None


def specs(version) -> dict[str, StepSpec]:
    """Parsed steps of a published version."""
    return {key: spec_of(version.graph, key) for key in version.graph["steps"]}
