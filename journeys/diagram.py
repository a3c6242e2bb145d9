"""An SVG drawing of a journey version with per-step counts, for the admin change page."""

from __future__ import annotations

from collections import Counter, defaultdict

from django.db.models import Count
from django.utils.html import escape

from journeys import graph as graphs
from journeys.models import Enrollment, EnrollmentStatus, StepLog
from journeys.steps import registry

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 230, 78, 40, 56, 20
# What fits on a line of a box (210 px of text; ~6 px a character at 11 px, ~5.4 at 10 px);
# the rest is cut with an ellipsis, and the box's <title> tooltip holds the whole text.
TITLE_CHARS, FIGURE_CHARS = 34, 38
COUNTED = ("entered", "sent", "deferred", "suppressed", "skipped", "engaged", "converted")


def step_counts(journey) -> dict[str, Counter]:
    counts: dict[str, Counter] = defaultdict(Counter)
    rows = (
        StepLog.objects.filter(journey=journey)
        .values("step", "outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        counts[row["step"]][row["outcome"]] += row["n"]
    waiting = (
        Enrollment.objects.filter(journey=journey, status=EnrollmentStatus.ACTIVE)
        .values("current_step")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in waiting:
        counts[row["current_step"]]["waiting_now"] += row["n"]
    return counts


def layout(graph: dict) -> dict[str, tuple[int, int]]:
    """Column per depth from the entry (breadth first); rows in order of discovery."""
    depth, order = {graph["entry"]: 0}, [graph["entry"]]
    for key in order:
        for target in graphs.targets(graph, key):
            if target not in depth:
                depth[target] = depth[key] + 1
                order.append(target)
    for key in graph["steps"]:  # unreachable steps (drafts) go last
        if key not in depth:
            depth[key] = max(depth.values(), default=0) + 1
            order.append(key)
    rows: Counter = Counter()
    places = {}
    for key in order:
        places[key] = (depth[key], rows[depth[key]])
        rows[depth[key]] += 1
    return places


def render(graph: dict, counts: dict[str, Counter] | None = None) -> str:
    counts = counts or {}
    places = layout(graph)
    width = PAD * 2 + (max(r for _, r in places.values()) + 1) * (BOX_W + GAP_X)
    height = PAD * 2 + (max(d for d, _ in places.values()) + 1) * (BOX_H + GAP_Y)

    def box(key):
        depth, row = places[key]
        return PAD + row * (BOX_W + GAP_X), PAD + depth * (BOX_H + GAP_Y)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="journey-diagram" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Journey diagram">',
        '<defs><marker id="arrow" markerWidth="10" markerHeight="8" refX="9" refY="4" '
        'orient="auto"><path d="M0,0 L10,4 L0,8 z" fill="#667"/></marker></defs>',
    ]
    for key in graph["steps"]:
        parts.extend(_edges(graph, key, box))
    for key in graph["steps"]:
        parts.append(_node(graph, key, box(key), counts.get(key, Counter())))
    parts.append("</svg>")
    return "".join(parts)


def _edges(graph, key, box):
    spec = graphs.spec_of(graph, key)
    x, y = box(key)
    labels = {spec.yes: "yes", spec.no: "no"} if spec.type != "choose_channel" else {
        spec.yes: "email", spec.no: "sms", spec.next: "none"}  # fmt: skip
    if spec.type == "split":
        labels = {k: f"{w}%" for k, w in spec.settings.get("weights", {}).items()}
    for target in graphs.targets(graph, key):
        tx, ty = box(target)
        x1, y1, x2, y2 = x + BOX_W / 2, y + BOX_H, tx + BOX_W / 2, ty
        if ty <= y:  # a loop back up: leave from the side
            x1, y1, x2, y2 = x + BOX_W, y + BOX_H / 2, tx + BOX_W, ty + BOX_H / 2
        yield (f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#667" '
               f'stroke-width="1.5" marker-end="url(#arrow)"/>')  # fmt: skip
        if label := labels.get(target):
            yield (f'<text x="{(x1 + x2) / 2 + 4}" y="{(y1 + y2) / 2}" font-size="11" '
                   f'fill="#334">{escape(label)}</text>')  # fmt: skip


def _node(graph, key, place, counts: Counter) -> str:
    spec = graphs.spec_of(graph, key)
    x, y = place
    entry = key == graph["entry"]
    described = registry[spec.type].describe(spec)
    figures = " · ".join(f"{name} {counts[name]}" for name in COUNTED if counts.get(name))
    waiting = f"waiting now {counts['waiting_now']}" if counts.get("waiting_now") else ""
    title = escape(_fit(described, TITLE_CHARS))
    full = escape("\n".join(part for part in (key, described, figures, waiting) if part))
    return (
        f'<g class="step step-{escape(spec.type)}" data-step="{escape(key)}">'
        f"<title>{full}</title>"
        f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" '
        f'fill="{"#e8f1ff" if entry else "#fff"}" stroke="#4a6fa5"/>'
        f'<text x="{x + 10}" y="{y + 18}" font-size="12" font-weight="bold">{escape(key)}</text>'
        f'<text x="{x + 10}" y="{y + 35}" font-size="11">{title}</text>'
        f'<text x="{x + 10}" y="{y + 52}" font-size="10" fill="#234">'
        f"{escape(_fit(figures, FIGURE_CHARS))}</text>"
        f'<text x="{x + 10}" y="{y + 68}" font-size="10" fill="#a33">{escape(waiting)}</text>'
        "</g>"
    )


def _fit(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"
