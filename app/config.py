"""Settings: one pydantic-settings class read from `DOCFUSE_*` variables (and `.env`).

The defaults are the embedded, single-machine set-up: a SQLite file and the stored originals
under `DOCFUSE_DATA_DIR`, tasks run in-process. Deployment (docker-compose.yml) points the
same settings at PostgreSQL and Redis.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    dpi: int = Field(150, ge=36, le=600, description="Render resolution of PDF pages.")
    max_page_pixels: int = Field(
        40_000_000, ge=1_000_000, description="Refuse any page or image larger than this."
    )
    max_upload_bytes: int = Field(200 * 1024 * 1024, ge=1, description="Largest file accepted.")
    ocr: bool = Field(True, description="OCR pages that have no usable text layer.")
    engine: EngineName = Field(EngineName.AUTO, description="Answering engine.")
    model: str = Field("jiuhai/florence-vl-3b-sft", description="Hub id or local checkpoint.")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N.")
    fusion_profile: str = Field("document", description="DBFusion gains; 'default' = paper.")

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'docfuse.db').resolve()}"
        return self

    @property
    def originals_dir(self) -> Path:
        return self.data_dir / "originals"

    @property
    def pages_dir(self) -> Path:
        return self.data_dir / "pages"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
