"""The uploader: sends the outbox to the service in batches, marks what was acknowledged, then
uploads the evidence of stored events. Network errors and 5xx answers back off exponentially
with jitter; it keeps going through days offline.

Nothing ends it but `stop`: any exception (a full disk under the outbox, a bug) is logged,
counted and backed off like a network error. A batch the service refuses as a whole (a 4xx other
than 401, 403, 408 or 429) is split in halves until the refused events are found; those are set
aside in the outbox with the service's answer as their reason (`binwatch edge outbox --dead`), and
the events behind them go on."""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

import httpx
from pydantic import ValidationError

from edge.outbox import Outbox
from vision.events import BatchResult, DropoffEvent, EventBatch

log = logging.getLogger(__name__)


def backoff(attempt: int, base: float, ceiling: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: a random pause in [d/2, d], d = min(ceiling, base·2^n)."""
    delay = min(ceiling, base * 2 ** min(attempt, 30))
    return float(delay * (0.5 + 0.5 * rng.random()))


RETRY_LATER = frozenset({401, 403, 408, 429})  # the token, the clock or the load: not the batch
REFUSED = "refused by the service"


@dataclass
class UploadStatus:
    last_success: float | None = None
    last_error: str | None = None
    failures: int = 0
    sent: int = 0
    set_aside: int = 0  # events the service refused in a batch refused as a whole
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class Uploader:
    def __init__(
        self,
        outbox: Outbox,
        device_id: str,
        base_url: str,
        token: str,
        batch_size: int = 200,
        timeout: float = 10.0,
        interval: float = 2.0,
        backoff_max: float = 300.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.outbox = outbox
        self.device_id = device_id
        self.batch_size = batch_size
        self.interval = interval
        self.backoff_max = backoff_max
        self.status = UploadStatus()
        self._rng = random.Random()
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers={"Authorization": f"Bearer {token}"},
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def send_once(self) -> int:
        """One round: a batch of events, then the evidence that can go. Returns events
        acknowledged; raises httpx errors for the caller to back off."""
        pending = self.outbox.pending(self.batch_size)
        done = 0
        if pending:
            answers = self._send([p.event for p in pending])
            refused = sum(1 for _, error in answers.values() if (error or "").startswith(REFUSED))
            if refused and refused == len(answers) > 1:
                # not one event taken: the service refuses everything (a bad deploy, a contract
                # it no longer speaks); keep them all and back off rather than set all aside
                raise httpx.TransportError(f"the service refused all {refused} events one by one")
            with self.status.lock:
                self.status.set_aside += refused
            self.outbox.mark(answers)
            for event_id, (status, error) in answers.items():
                if status == "rejected":
                    log.warning("service rejected event %s: %s", event_id, error)
            done = len(answers)
        for event_id, path in self.outbox.evidence_ready(20):
            try:
                data = path.read_bytes()
            except OSError:
                self.outbox.evidence_done(event_id, accepted=False)
                continue
            response = self._client.put(
                f"/api/v1/ingest/evidence/{event_id}",
                content=data,
                headers={"Content-Type": "image/jpeg"},
            )
            if response.status_code >= 500:
                raise httpx.HTTPStatusError(
                    "service error", request=response.request, response=response
                )
            if response.status_code != 200:
                log.warning(
                    "service refused evidence of %s (%s): %s",
                    event_id,
                    response.status_code,
                    response.text[:200],
                )
            self.outbox.evidence_done(event_id, accepted=response.status_code == 200)
        return done

    def _send(self, events: list[DropoffEvent]) -> dict[UUID, tuple[str, str | None]]:
        """The service's answer for each event; a batch refused as a whole is split."""
        batch = EventBatch(
            device_id=self.device_id, sent_at=datetime.now(UTC), events=tuple(events)
        )
        response = self._client.post(
            "/api/v1/ingest/events",
            content=batch.model_dump_json(),
            headers={"Content-Type": "application/json"},
        )
        code = response.status_code
        if code >= 500 or code in RETRY_LATER:
            if code < 500:
                log.error("service refused the batch (%s): %s", code, response.text[:300])
            raise httpx.HTTPStatusError(
                f"service answered {code}", request=response.request, response=response
            )
        if code != 200:
            if len(events) > 1:  # find the events it refuses; send the others
                log.warning("service refused a batch of %d (%s); splitting it", len(events), code)
                half = len(events) // 2
                return {**self._send(events[:half]), **self._send(events[half:])}
            reason = f"{REFUSED} ({code}): {response.text[:300]}"
            log.error("event %s set aside: %s", events[0].event_id, reason)
            return {events[0].event_id: ("rejected", reason)}
        try:
            result = BatchResult.model_validate_json(response.content)
        except ValidationError as exc:
            raise httpx.DecodingError(f"unexpected answer from the service: {exc}") from None
        return {r.event_id: (r.status.value, r.error) for r in result.results}

    def run(self, stop: threading.Event) -> None:
        """Send until stopped, backing off on errors; drains before waiting when there is more."""
        attempt = 0
        while not stop.is_set():
            try:
                sent = self.send_once()
            except Exception as exc:  # anything: the network, a full disk, a bug
                attempt += 1
                with self.status.lock:
                    self.status.failures += 1
                    self.status.last_error = f"{type(exc).__name__}: {exc}"[:200]
                pause = backoff(attempt, self.interval, self.backoff_max, self._rng)
                if isinstance(exc, httpx.HTTPError):
                    log.warning("upload failed (%s); retrying in %.1f s", exc, pause)
                else:
                    log.exception("upload failed unexpectedly; retrying in %.1f s", pause)
                stop.wait(pause)
                continue
            attempt = 0
            with self.status.lock:
                self.status.last_success = time.time()
                self.status.sent += sent
            if sent < self.batch_size:
                stop.wait(self.interval)
