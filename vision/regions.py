"""Regions of interest as polygons in frame pixels: what makes one usable (a positive area, no
edges crossing, inside the frame). Shared by the device's config check and the service's station
set-up page, which must agree."""

from __future__ import annotations

LARGEST_FRAME = 8192  # no camera's frame is wider or taller (8K)
XY = tuple[float, float]


def shown(value: object) -> str:
    """A value as a message quotes it: its repr, cut at 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def points_of(roi: object) -> list[XY] | None:
    if not isinstance(roi, list) or len(roi) < 3:
        return None
    try:
        return [(float(p[0]), float(p[1])) for p in roi]
    except (TypeError, ValueError, IndexError, KeyError):
        return None


def _area(points: list[XY]) -> float:
    n = len(points)
    twice = sum(
        points[i][0] * points[(i + 1) % n][1] - points[(i + 1) % n][0] * points[i][1]
        for i in range(n)
    )
    return abs(twice) / 2


def _cross(o: XY, a: XY, b: XY) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _on(p: XY, q: XY, r: XY) -> bool:
    """q on the segment p-r (given the three are collinear)."""
    return min(p[0], r[0]) <= q[0] <= max(p[0], r[0]) and min(p[1], r[1]) <= q[1] <= max(p[1], r[1])


def _meet(
    p1: XY,
    p2: XY,
    q1: XY,
    q2: XY,
) -> bool:
    """Segments p1-p2 and q1-q2 cross or touch."""
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return True
    return (
        (d1 == 0 and _on(q1, p1, q2))
        or (d2 == 0 and _on(q1, p2, q2))
        or (d3 == 0 and _on(p1, q1, p2))
        or (d4 == 0 and _on(p1, q2, p2))
    )


def crossing_edges(points: list[XY]) -> tuple[int, int] | None:
    """The first two edges of the polygon that meet other than at their shared corner."""
    n = len(points)
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # neighbours share a corner
            if _meet(*edges[i], *edges[j]):
                return i, j
    return None


def region_problems(roi: object, frame: tuple[int, int] | None, frame_said: str) -> list[str]:
    """What is wrong with a region (empty when usable); a malformed one is left to its field's
    own check."""
    points = points_of(roi)
    if points is None:
        return []
    found = []
    if (edges := crossing_edges(points)) is not None:  # a bow tie's lobes cancel: first
        i, j = edges
        k = (j + 1) % len(points)
        found.append(f"crosses itself (edges {i}-{i + 1} and {j}-{k}): {shown(roi)}")
    elif _area(points) <= 0:
        found.append(f"has no area (its points lie on a line): {shown(roi)}")
    width, height = frame or (LARGEST_FRAME, LARGEST_FRAME)
    outside = [p for p in points if not (0 <= p[0] <= width and 0 <= p[1] <= height)]
    if outside:
        x, y = outside[0]
        found.append(
            f"point ({x:g}, {y:g}) lies outside the frame ({width}×{height}, {frame_said})"
        )
    return found
