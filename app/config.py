"""Settings: one pydantic-settings class read from `DOCFUSE_*` variables (and `.env`).

The defaults are the embedded, single-machine set-up: a SQLite file and the stored originals
under `DOCFUSE_DATA_DIR`, tasks run in-process. Deployment (docker-compose.yml) points the
same settings at PostgreSQL and Redis.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.limits import MAX_DPI, MIN_DPI


class EngineName(StrEnum):
    """Which engine answers: `auto` picks Florence-VL when its checkpoint is on disk."""

    AUTO = "auto"
    FLORENCE_VL = "florence-vl"
    TINY_RANDOM = "tiny-random"
    EXTRACTIVE = "extractive"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCFUSE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("docfuse-data"), description="Originals, page images, SQLite.")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite in data_dir.")
    broker_url: str = Field("", description="Celery broker; empty means tasks run in-process.")
    dpi: int = Field(150, ge=MIN_DPI, le=MAX_DPI, description="Render resolution of PDF pages.")
    max_page_pixels: int = Field(
        40_000_000, ge=1_000_000, description="Refuse any page or image larger than this."
    )
    max_upload_bytes: int = Field(200 * 1024 * 1024, ge=1, description="Largest file accepted.")
    max_pages: int = Field(2000, ge=1, description="Refuse documents with more pages.")
    ocr: bool = Field(True, description="OCR pages that have no usable text layer.")
    engine: EngineName = Field(EngineName.AUTO, description="Answering engine.")
    model: str = Field("jiuhai/florence-vl-3b-sft", description="Hub id or local checkpoint.")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N.")
    fusion_profile: str = Field("document", description="DBFusion gains; 'default' = paper.")
    adapter: str = Field(
        "", description="A fine-tuned adapter folder (docfuse finetune's out/adapter) to apply."
    )
    extractor_ranker: str = Field(
        "",
        description="The extractive engine's candidate ranker (a JSON file); empty: the one "
        "docfuse train-extractor wrote into data_dir, else the one docfuse ships.",
    )
    ui_password: SecretStr | None = Field(
        None, description="When set, the web UI asks for it before anything else."
    )
    # The queue (app.services.jobs, workers/). Short values are for tests; see the README.
    heartbeat_interval_s: float = Field(
        10.0, gt=0, description="How often running work writes its heartbeat."
    )
    stale_after_s: float = Field(
        60.0, gt=0, description="A running job or worker silent this long is gone."
    )
    reconcile_interval_s: float = Field(
        30.0, gt=0, description="How often each worker repairs interrupted or lost jobs."
    )
    resend_after_s: float = Field(
        30.0, ge=0, description="A queued job whose message is missing this long is sent again."
    )
    max_attempts: int = Field(3, ge=1, description="Attempts before interrupted work fails.")
    task_soft_time_limit_s: int = Field(3600, ge=1, description="A task is asked to stop.")
    task_time_limit_s: int = Field(3900, ge=1, description="A task is killed.")
    visibility_timeout_s: int = Field(
        7200, ge=1, description="Redis redelivers an unacknowledged task after this long."
    )
    worker_threads: int = Field(
        0, ge=0, description="Compute threads per worker process; 0: cores / concurrency."
    )
    analyze_batch_pages: int = Field(8, ge=1, description="Pages per analysis engine batch.")
    analyze_batch_wait_s: float = Field(
        0.0,
        ge=0,
        description="How long an analysis waits for more pages to fill a batch: worth it "
        "on a GPU worker that others feed, a loss on a worker that also ingests.",
    )

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'docfuse.db').resolve()}"
        return self

    @model_validator(mode="after")
    def _consistent_limits(self) -> Settings:
        """Timings that contradict each other would lose or duplicate work: refuse them."""
        if self.stale_after_s <= 2 * self.heartbeat_interval_s:
            raise ValueError(
                f"stale_after_s ({self.stale_after_s}) must exceed twice "
                f"heartbeat_interval_s ({self.heartbeat_interval_s})"
            )
        if not self.task_soft_time_limit_s < self.task_time_limit_s < self.visibility_timeout_s:
            raise ValueError(
                "need task_soft_time_limit_s < task_time_limit_s < visibility_timeout_s, got "
                f"{self.task_soft_time_limit_s}, {self.task_time_limit_s}, "
                f"{self.visibility_timeout_s}"
            )
        return self

    @property
    def originals_dir(self) -> Path:
        return self.data_dir / "originals"

    @property
    def pages_dir(self) -> Path:
        return self.data_dir / "pages"

    @property
    def trained_ranker(self) -> Path:
        """Where docfuse train-extractor writes the ranker it trains."""
        return self.data_dir / "extractor-ranker.json"

    def ranker_file(self) -> Path | None:
        """The ranker the extractive engine uses: the configured file, else the trained one,
        else None (the one docfuse ships)."""
        if self.extractor_ranker:
            return Path(self.extractor_ranker).expanduser()
        return self.trained_ranker if self.trained_ranker.is_file() else None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
