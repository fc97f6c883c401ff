"""Settings for the service's commands, with errors as one readable line."""

from __future__ import annotations

from pydantic import ValidationError

from api.settings import Settings
from vision.errors import BinwatchError


class SettingsError(BinwatchError):
    pass


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise SettingsError(f"bad service settings: {problems}") from None
