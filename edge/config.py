"""The agent's one configuration: a YAML file validated by `EdgeConfig`, loaded once in `main`.

`binwatch edge check-config FILE` prints every error with its path (`bins.0.roi: ...`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import ErrorDetails

from edge.config_check import cross_problems
from vision.errors import BinwatchError, describe_validation_error
from vision.regions import shown

Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
Point = tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)]]


class ConfigError(BinwatchError):
    pass


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceConfig(_Section):
    url: str = Field(description="the central service, e.g. https://binwatch.example.org")
    token: str | None = Field(None, description="this device's token (or token_file)")
    token_file: Path | None = Field(None, description="a file holding the token")
    timeout_s: float = Field(10.0, gt=0, le=300, description="per-request timeout")
    batch_size: int = Field(200, ge=1, le=500, description="events per upload")
    interval_s: float = Field(2.0, gt=0, le=3600, description="pause between upload rounds")
    backoff_max_s: float = Field(300.0, gt=0, le=86400, description="longest retry pause")
    stall_after_s: float = Field(
        1800.0,
        gt=0,
        le=30 * 86400,
        description="/health says 'uploads stalled' when events wait and none was "
        "acknowledged for this long",
    )

    @model_validator(mode="after")
    def _one_token(self) -> ServiceConfig:
        if (self.token is None) == (self.token_file is None):
            raise ValueError("give exactly one of token and token_file")
        return self

    def bearer(self) -> str:
        if self.token is not None:
            return self.token
        assert self.token_file is not None
        try:
            return self.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read token_file {self.token_file}: {exc}") from None


class BinConfig(_Section):
    id: Code = Field(description="the bin's code at the service")
    category: str = Field(description="a category or a group of the station's profile")
    roi: list[Point] = Field(
        min_length=3, max_length=64, description="region of interest polygon, frame pixels"
    )


class SourceConfig(_Section):
    kind: Literal["file", "folder", "stream", "camera"]
    uri: str = Field(description="video path, image folder, rtsp:// or http:// URL, or index")
    fps: float | None = Field(None, gt=0, le=120, description="frames per second to process")
    loop: bool = Field(False, description="start a file or folder again at its end")
    reconnect_max_s: float = Field(60.0, gt=0, le=3600, description="longest reconnect pause")
    width: int | None = Field(None, ge=16, le=8192, description="frame width the ROIs are drawn on")
    height: int | None = Field(None, ge=16, le=8192, description="frame height the ROIs are on")


class TriggerConfig(_Section):
    mode: Literal["motion", "signal"] = "motion"
    motion_on: float = Field(0.02, gt=0, lt=1, description="moving share that starts activity")
    motion_off: float = Field(0.004, gt=0, lt=1, description="moving share that counts as still")
    settle_frames: int = Field(6, ge=1, le=600)
    combine_frames: int = Field(
        1, ge=1, le=30, description="settled frames whose predictions are averaged per item"
    )
    max_activity_frames: int = Field(600, ge=10, le=100_000)
    min_item_area: float = Field(0.003, gt=0, lt=1, description="share of the region per item")
    signal_host: str = "127.0.0.1"
    signal_port: int = Field(8765, ge=1, le=65535, description="lid and card signals (signal mode)")
    card_timeout_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="a card swipe binds to the bin whose lid opens next or, without a lid "
        "signal, where the next change starts, and goes to that bin's next drop-off only; a "
        "swipe no drop-off starts within this many seconds is counted unbound and dropped "
        "(a second swipe replaces a waiting one)",
    )

    @model_validator(mode="after")
    def _ordered(self) -> TriggerConfig:
        if self.motion_off >= self.motion_on:
            raise ValueError("motion_off must be below motion_on")
        return self


class EvidenceConfig(_Section):
    flagged: bool = Field(True, description="keep an image of contaminated drop-offs")
    uncertain: bool = Field(True, description="keep an image of uncertain drop-offs")
    audit_share: float = Field(0.05, ge=0, le=1, description="share of the rest kept for audit")
    jpeg_quality: int = Field(85, ge=30, le=100)
    blur_faces: bool = True


class StorageConfig(_Section):
    dir: Path = Field(Path("binwatch-edge"), description="outbox database and images")
    max_evidence_mb: float = Field(2048, gt=0, description="evidence beyond this: oldest dropped")
    min_free_mb: float = Field(512, ge=0, description="keep this much disk free")


class ModelConfig(_Section):
    path: Path | None = Field(None, description="ONNX model; default: the shipped one")
    update: bool = Field(True, description="ask the service which model to run")
    check_interval_s: float = Field(600, gt=0, le=86400)
    threads: int = Field(2, ge=1, le=16, description="ONNX Runtime threads for a decision")
    flip: bool = Field(False, description="also classify each crop mirrored and average")


class FeedbackConfig(_Section):
    command: list[str] | None = Field(None, description="run with the verdict as JSON on stdin")
    url: str | None = Field(None, description="POST the verdict as JSON here")
    timeout_s: float = Field(2.0, gt=0, le=30)


class MetricsConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535, description="Prometheus metrics; 0 turns it off")
    heartbeat_s: float = Field(60, gt=0, le=3600)


class EdgeConfig(_Section):
    device_id: Code
    station_id: Code
    profile: str = Field("national", description="taxonomy profile of the station")
    pseudonym_key: str | None = Field(
        None,
        min_length=16,
        description="keys the household card hash; one key per street, so a card is the "
        "same household at every station of the street (or pseudonym_key_file)",
    )
    pseudonym_key_file: Path | None = Field(None, description="a file holding the street's key")
    service: ServiceConfig
    bins: list[BinConfig] = Field(min_length=1, max_length=16)
    source: SourceConfig
    trigger: TriggerConfig = TriggerConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    storage: StorageConfig = StorageConfig()
    model: ModelConfig = ModelConfig()
    feedback: FeedbackConfig = FeedbackConfig()
    metrics: MetricsConfig = MetricsConfig()

    @model_validator(mode="after")
    def _one_key(self) -> EdgeConfig:
        if (self.pseudonym_key is None) == (self.pseudonym_key_file is None):
            raise ValueError("give exactly one of pseudonym_key and pseudonym_key_file")
        return self

    def street_key(self) -> str:
        """The pseudonym key, from the file when it is kept in one (read when needed)."""
        if self.pseudonym_key is not None:
            return self.pseudonym_key
        assert self.pseudonym_key_file is not None
        try:
            key = self.pseudonym_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read pseudonym_key_file {self.pseudonym_key_file}: {exc}"
            ) from None
        if len(key) < 16:
            raise ConfigError(f"pseudonym_key_file {self.pseudonym_key_file}: under 16 characters")
        return key

    @model_validator(mode="after")
    def _fits_together(self, info: ValidationInfo) -> EdgeConfig:
        """Bins, ROIs, profile and URL checked together (`edge.config_check`); check-config
        runs the same checks on the raw file itself, to report them beside the field errors."""
        if info.context and info.context.get("cross") is False:
            return self
        problems = cross_problems(self.model_dump(mode="json"), sources=False)
        if problems:
            raise ValueError("; ".join(f"{path}: {message}" for path, message in problems))
        return self


def load_config(path: Path) -> EdgeConfig:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    try:
        return EdgeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from None


def _shown(error: ErrorDetails) -> str:
    where = ".".join(map(str, error["loc"])) or "(top)"
    said = f"{where}: {error['msg']}"
    if error["type"] in ("missing", "model_type", "dict_type") or isinstance(error["input"], dict):
        return said
    return f"{said} (got {shown(error['input'])})"


def config_errors(path: Path, probe: bool = False) -> list[str]:
    """Every problem of a config file, each as `path.to.field: message (got value)`, all in one
    run (empty when valid). `probe`: also open the source and check the ROIs against its frame."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return [f"cannot read it: {exc.strerror or exc}"]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return [f"{where}not valid YAML: {problem}"]
    if not isinstance(data, dict):
        return [f"(top): a mapping of settings is needed, not {type(data).__name__}"]
    found = []
    try:
        EdgeConfig.model_validate(data, context={"cross": False})
    except ValidationError as exc:
        found = [_shown(e) for e in exc.errors()]
    found += [f"{where}: {message}" for where, message in cross_problems(data, True, probe)]
    return found
