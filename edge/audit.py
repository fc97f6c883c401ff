"""The audit share this device samples at: the service's, once known.

The service decides each station's share (`GET /api/v1/device/config`, see api/sampling.py); the
device keeps exactly that share of the drop-offs its model judges correct as audit evidence and
records the share on each such event, so the service can weigh the audits. Until the service
has answered once, the config's `evidence.audit_share` is used. The last share the service gave
is kept in the storage folder, so a restart while offline samples at it, not at the config's.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class AuditShare:
    def __init__(self, configured: float, state_file: Path | None = None):
        if not 0 <= configured <= 1:
            raise ValueError(f"an audit share is in [0, 1], got {configured}")
        self._lock = threading.Lock()
        self._share = configured
        self.source = "config"
        self._file = state_file
        if state_file is not None:
            try:
                known = float(json.loads(state_file.read_text())["audit_share"])
            except FileNotFoundError:
                pass
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring %s: %s", state_file, exc)
            else:
                if 0 < known <= 1:
                    self._share, self.source = known, "service (kept)"

    @property
    def share(self) -> float:
        with self._lock:
            return self._share

    def set(self, share: float) -> None:
        """The service's share; kept on disk when it changes."""
        if not 0 < share <= 1:
            log.warning("the service sent audit share %r; keeping %s", share, self.share)
            return
        with self._lock:
            changed = share != self._share
            self._share, self.source = share, "service"
        if changed:
            log.info("audit share is now %.4f (from the service)", share)
            self._save(share)

    def _save(self, share: float) -> None:
        if self._file is None:
            return
        tmp = self._file.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"audit_share": share}))
            tmp.replace(self._file)
        except OSError as exc:
            log.warning("cannot keep the audit share in %s: %s", self._file, exc)
