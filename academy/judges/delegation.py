"""Delegation: where a cheap judge agrees with the supervisor, it judges instead, audited.

``DelegationState`` is what the nightly ``update_delegation`` step learns and registers as a
version of ``delegation.registry_name``: the night's neighbourhoods (k-means centroids of the
query embeddings), the judge delegated in each (None: the supervisor), each model's track record
there (the ensemble's weights), the verifier's weights, and the evidence behind every decision.

``JudgePanel`` is what the router and the nightly scorer call instead of the supervisor: it finds
the query's neighbourhood, and judges with the delegated candidate, except for an ``audit_rate``
sample (a deterministic draw per request) that still goes to the supervisor, so the night can see
agreement drift and revoke. Without a state (nothing learned yet, or delegation off) every call
goes to the supervisor.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from academy.backends.base import Backend
from academy.backends.reference import unit_draw
from academy.clustering import nearest
from academy.config import DelegationConfig
from academy.judges.base import Judge, Judgement, JudgeRequest, build_judge
from academy.judges.cheap import VerifierJudge

STATE_FILE = "delegation.json"  # registry.model_registry.DELEGATION_FILE


class DelegationError(ValueError):
    """A delegation state that cannot be read."""


@dataclass
class ClusterDecision:
    """One neighbourhood: who judges there, and the evidence (agreement with the supervisor)."""

    judge: str | None  # None: the supervisor
    reason: str
    agreement: dict[str, float] = field(default_factory=dict)  # candidate -> accept/reject agreement
    samples: dict[str, int] = field(default_factory=dict)  # candidate -> paired judgements
    trust: dict[str, float] = field(default_factory=dict)  # model -> mean supervisor score here


@dataclass
class DelegationState:
    supervisor: str
    centroids: np.ndarray  # (clusters, dim)
    clusters: list[ClusterDecision]
    verifier: list[float] | None = None
    global_trust: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def cluster_of(self, embedding: np.ndarray) -> int:
        vector = np.asarray(embedding, dtype=np.float64).reshape(1, -1)
        return int(nearest(vector, self.centroids)[0])

    def delegate(self, cluster: int) -> str | None:
        return self.clusters[cluster].judge

    def trust(self, cluster: int) -> dict[str, float]:
        return self.global_trust | self.clusters[cluster].trust

    @property
    def delegated(self) -> int:
        return sum(c.judge is not None for c in self.clusters)

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        data = {
            "supervisor": self.supervisor,
            "centroids": np.round(self.centroids, 6).tolist(),
            "clusters": [asdict(c) for c in self.clusters],
            "verifier": self.verifier,
            "global_trust": self.global_trust,
            "meta": self.meta,
        }
        (folder / STATE_FILE).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        return folder

    @classmethod
    def load(cls, folder: Path) -> DelegationState:
        path = Path(folder) / STATE_FILE
        try:
            data = json.loads(path.read_text())
            centroids = np.asarray(data["centroids"], dtype=np.float64)
            clusters = [ClusterDecision(**c) for c in data["clusters"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DelegationError(f"{path}: not a delegation state ({exc})") from exc
        if centroids.ndim != 2 or len(centroids) != len(clusters):
            raise DelegationError(
                f"{path}: {len(clusters)} clusters but centroids of shape {centroids.shape}"
            )
        return cls(
            data["supervisor"],
            centroids,
            clusters,
            data.get("verifier"),
            data.get("global_trust", {}),
            data.get("meta", {}),
        )


class JudgePanel:
    """The supervisor plus the delegation candidates, behind one ``ajudge``."""

    def __init__(
        self,
        supervisor: Judge,
        config: DelegationConfig,
        backends: dict[str, Backend] | None = None,
        home: Path | None = None,
    ) -> None:
        self.supervisor = supervisor
        self.config = config
        self.candidates: dict[str, Judge] = {}
        for candidate in config.candidates:
            kwargs = {"backends": backends or {}} if candidate.name == "model" else {}
            judge = build_judge(candidate, home=home, **kwargs)
            self.candidates[judge.name] = judge
        self.state: DelegationState | None = None

    def install(self, state: DelegationState | None) -> None:
        """Serve ``state`` from now on (the verifier takes its weights)."""
        self.state = state
        for judge in self.candidates.values():
            if isinstance(judge, VerifierJudge):
                judge.weights = np.asarray(state.verifier) if state and state.verifier else None

    def choose(self, embedding: np.ndarray | None, key: str) -> tuple[Judge, int | None, bool]:
        """(the judge for this query, its cluster, whether it is an audit of a delegated cluster)."""
        state = self.state
        if state is None or embedding is None or not self.config.enabled or not len(state.centroids):
            return self.supervisor, None, False
        cluster = state.cluster_of(embedding)
        delegate = state.delegate(cluster)
        if delegate is None or delegate not in self.candidates:
            return self.supervisor, cluster, False
        if unit_draw(self.config.seed, key, "audit") < self.config.audit_rate:
            return self.supervisor, cluster, True
        return self.candidates[delegate], cluster, False

    async def ajudge(
        self, requests: list[JudgeRequest], embedding: np.ndarray | None, key: str
    ) -> list[Judgement]:
        """Judge the answers of one query: delegated candidate, audit or supervisor."""
        judge, cluster, audited = self.choose(embedding, key)
        if cluster is not None and self.state is not None:
            trust = self.state.trust(cluster)
            for request in requests:
                request.trust = trust
        judgements = await judge.ajudge(requests)
        unjudged = [i for i, j in enumerate(judgements) if j.score is None and judge is not self.supervisor]
        if unjudged:  # the candidate had nothing to go on (e.g. no reference answer): the supervisor
            again = await self.supervisor.ajudge([requests[i] for i in unjudged])
            for i, judgement in zip(unjudged, again, strict=True):
                judgements[i] = judgement
        for judgement in judgements:
            judgement.detail |= {"cluster": cluster, "audit": audited}
        return judgements

    async def aclose(self) -> None:
        for judge in self.candidates.values():
            await judge.aclose()
