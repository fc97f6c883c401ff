"""A station's YAML, written with a comment on every field: `binwatch edge init` and
`examples/station.yaml` (which is this function's output with its defaults; a test keeps them
the same). Secrets are never written: the token and the pseudonym key are files whose place the
comments give."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from vision.errors import TaxonomyError
from vision.regions import region_problems
from vision.taxonomy import BUILTIN_PROFILES, load_profile

ROI = list[tuple[int, int]]
Problem = tuple[str, str]  # (path, message)


@dataclass
class StationBin:
    id: str
    category: str
    roi: ROI


@dataclass
class StationFile:
    station: str = "ST1"
    device: str | None = None  # default: cam-<station>
    service_url: str = "https://binwatch.example.org"
    profile: str = "national"
    width: int = 1280
    height: int = 720
    source_kind: str = "stream"
    source_uri: str = "rtsp://192.168.1.64:554/Streaming/Channels/101"
    bins: list[StationBin] = field(default_factory=list)

    def default_bins(self) -> list[StationBin]:
        """Two bins side by side, each a rectangle over its half of the frame, inset: a start
        to redraw on the station set-up page."""
        w, h = self.width, self.height
        mx, my = w // 20, h // 10
        left = [(mx, my), (w // 2 - mx, my), (w // 2 - mx, h - my), (mx, h - my)]
        right = [(w // 2 + mx, my), (w - mx, my), (w - mx, h - my), (w // 2 + mx, h - my)]
        return [
            StationBin(f"{self.station}-K", "kitchen", left),
            StationBin(f"{self.station}-R", "recyclable", right),
        ]


def _q(text: str) -> str:
    """A YAML scalar that reads back as this string (JSON strings are YAML)."""
    return json.dumps(text, ensure_ascii=False)


def render(spec: StationFile) -> str:
    bins = spec.bins or spec.default_bins()
    device = spec.device or f"cam-{spec.station}"
    lines = [
        "# A binwatch station: one camera (or smart bin) over one or more bins.",
        "# Check it with `binwatch edge check-config FILE` (add --probe on the device to open the",
        "# camera and check the regions against its frames); run it with `binwatch edge run FILE`.",
        "",
        "# this device's id, as registered at the service",
        "# (`binwatch devices create ID --station CODE`)",
        f"device_id: {_q(device)}",
        "# the station's code at the service (the places import)",
        f"station_id: {_q(spec.station)}",
        "# taxonomy profile: which categories each bin accepts (national, shanghai, beijing,",
        "# shenzhen, guangzhou, or a city's own YAML file)",
        f"profile: {_q(spec.profile)}",
        "# keys the household card hash: the same key at every station of a street, so a card is",
        "# one household street-wide. The street's admin writes it (16 characters or more) into",
        "# this file on the device, readable by the agent only; it is never sent anywhere.",
        "pseudonym_key_file: /etc/binwatch/pseudonym.key",
        "",
        "service:",
        "  # the central service (what BINWATCH_PUBLIC_URL says there)",
        f"  url: {_q(spec.service_url)}",
        "  # this device's token, printed once by `binwatch devices create` (or rotated with",
        "  # POST /api/v1/devices/ID/token); keep it in this file, readable by the agent only",
        "  token_file: /etc/binwatch/device.token",
        "  # seconds between upload rounds, and the longest pause between retries",
        "  interval_s: 2.0",
        "  backoff_max_s: 300.0",
        "",
        "source:",
        "  # stream (rtsp:// or http://), camera (a device index: 0), file (a video),",
        "  # or folder (images)",
        f"  kind: {_q(spec.source_kind)}",
        f"  uri: {_q(spec.source_uri)}",
        "  # the frame size the regions below are drawn on (check-config --probe compares)",
        f"  width: {spec.width}",
        f"  height: {spec.height}",
        "  # frames per second to process (a camera's own rate when left out)",
        "  fps: 10",
        "",
        "# each bin: its code at the service, the category (or a local bin name) of the profile it",
        "# takes, and its region of interest: polygon corners in frame pixels (x, y), drawn on the",
        "# station set-up page on a snapshot of this camera",
        "bins:",
    ]
    for b in bins:
        corners = ", ".join(f"[{x}, {y}]" for x, y in b.roi)
        lines += [
            f"  - id: {_q(b.id)}",
            f"    category: {_q(b.category)}",
            f"    roi: [{corners}]",
        ]
    lines += [
        "",
        "trigger:",
        "  # motion: a drop-off is a movement that settles; signal: a lid or card reader says so",
        "  mode: motion",
        "",
        "evidence:",
        "  # images kept for review: contaminated and uncertain drop-offs, and a share of the rest",
        "  flagged: true",
        "  uncertain: true",
        "  audit_share: 0.05",
        "  # faces are blurred on the device before an image is stored or sent",
        "  blur_faces: true",
        "",
        "storage:",
        "  # the outbox (events and images waiting for the network); it survives restarts",
        "  dir: /var/lib/binwatch-edge",
        "  # evidence beyond this many MB: the oldest dropped; always keep this much disk free",
        "  max_evidence_mb: 2048",
        "  min_free_mb: 512",
        "",
        "model:",
        "  # ask the service which model to run (canaries, roll-backs); the shipped one until then",
        "  update: true",
        "  threads: 2",
        "",
        "metrics:",
        "  # Prometheus metrics and /health on this port (0: off)",
        "  port: 9108",
        "",
    ]
    return "\n".join(lines)


# What makes a station's bins unusable, on the raw data (dicts from YAML or JSON), so the device's
# check-config and the service's set-up page refuse the same things in the same words.


def bin_problems(bins: object, profile_name: object) -> list[Problem]:
    """Bin ids that repeat (which, and where it first came), the profile, each category under it."""
    if not isinstance(bins, list):
        return []
    found: list[Problem] = []
    first: dict[str, int] = {}
    for i, b in enumerate(bins):
        if isinstance(b, dict) and isinstance(b.get("id"), str):
            if b["id"] in first:
                found.append((f"bins.{i}.id", f"{b['id']!r} repeats bins.{first[b['id']]}.id"))
            else:
                first[b["id"]] = i
    if not isinstance(profile_name, str):
        return found
    if profile_name not in BUILTIN_PROFILES and not profile_name.endswith((".yaml", ".yml")):
        known = ", ".join(sorted(BUILTIN_PROFILES))
        return [*found, ("profile", f"unknown profile {profile_name!r} (built in: {known})")]
    try:
        profile = load_profile(profile_name)
    except TaxonomyError as exc:
        return [*found, ("profile", str(exc))]
    for i, b in enumerate(bins):
        category = b.get("category") if isinstance(b, dict) else None
        if isinstance(category, str):
            try:
                profile.accepted(category)
            except TaxonomyError as exc:
                found.append((f"bins.{i}.category", str(exc)))
    return found


def bins_region_problems(
    bins: object, frame: tuple[int, int] | None, frame_said: str
) -> list[Problem]:
    """Each bin's region checked against the frame (`region_problems`), with its path."""
    if not isinstance(bins, list):
        return []
    return [
        (f"bins.{i}.roi", message)
        for i, b in enumerate(bins)
        if isinstance(b, dict)
        for message in region_problems(b.get("roi"), frame, frame_said)
    ]
