"""Where the nightly cycle reads and writes: one place, so step flows run alone find each other's
outputs. Data (DVC stage outputs) lives under ``paths.data``; scratch (candidates, evaluations)
under ``paths.home/nightly``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from academy.config import AcademyConfig


@dataclass(frozen=True)
class NightLayout:
    data: Path
    home: Path

    @classmethod
    def of(cls, cfg: AcademyConfig) -> NightLayout:
        return cls(cfg.paths.data, cfg.paths.home)

    @property
    def snapshot(self) -> Path:
        return self.data / "traffic"

    @property
    def gaps(self) -> Path:
        return self.data / "gaps"

    @property
    def distill(self) -> Path:
        return self.data / "distill"

    @property
    def registry_cache(self) -> Path:
        return self.home / "registry-cache"

    @property
    def candidates(self) -> Path:
        """Every student's candidate folder (kept between nights: a refused one is trained on)."""
        return self.home / "nightly" / "candidates"

    def candidate(self, student: str) -> Path:
        """A student's candidate of tonight: ``model/`` and the JSON records of each step."""
        return self.candidates / student
