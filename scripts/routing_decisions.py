"""Routing decisions on a frozen store: ``python scripts/routing_decisions.py HOME`` builds the runtime
from ``HOME/academy.yaml`` (a demo's home), loads its evidence and registry versions, and prints one
JSON line per query of a fixed school sample: route, model, reason, nearest similarity and each
model's estimate. Nothing is answered or written, so two code versions on copies of one home must
print the same bytes (scripts/compare_behaviour.sh)."""

import asyncio
import json
import sys
from pathlib import Path

from academy.config import load_config
from academy.routing import RouteRequest
from academy.runtime import Runtime
from academy.school import School


async def main(home: Path) -> None:
    cfg = load_config(home / "academy.yaml")
    runtime = Runtime.build(cfg)
    await runtime.start()
    for w in runtime.watchers:
        await w.sync_once()
    out = []
    for i, ex in enumerate(School(seed=123).generate(300)):
        request = RouteRequest(query=ex.query, tenant=cfg.demo.tenant, request_id=f"q{i}")
        d = await runtime.router.decide(request)
        est = {m: [round(e.quality, 6), round(e.lower or 0, 6)] for m, e in sorted(d.estimates.items())}
        out.append(json.dumps([ex.query, d.route, d.model, d.reason, round(d.max_similarity or 0, 6), est]))
    await runtime.stop()
    print("\n".join(out))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
