#!/usr/bin/env bash
# Deterministic outputs of two code versions, compared: `bash scripts/compare_behaviour.sh BASE_REV`
# (BASE_REV: a commit or tag, e.g. the one before a refactor). Both versions run on the same inputs:
#   1. a quick demo week (seed 0) run by BASE_REV leaves a frozen home (traffic store, registry);
#   2. each version rebuilds the night's snapshot, gap report and datasets from a copy of that home
#      (md5 of every file);
#   3. each version makes the routing decisions for a fixed school sample on a copy of that home
#      (scripts/routing_decisions.py);
#   4. each version runs `academy bench replay --set mt_bench --set gsm8k --json` (timings dropped);
#   5. each version runs one whole night (`academy evolve run`: scoring, gaps, datasets, training,
#      evaluation, gate) on a copy of that home: each candidate's eval.json, promotion.json and its
#      training record (paths and timings dropped).
# Prints IDENTICAL or the differences for each; exits 1 when any differs. About 10 minutes on 2 cores.
# The demo's own figures are not deterministic run to run (judging and fan-out race on the event
# loop), so the demo is compared by its seed-to-seed spread instead (docs/benchmarks.md).
set -euo pipefail
base_rev=${1:?usage: compare_behaviour.sh BASE_REV}
repo=$(cd "$(dirname "$0")/.." && pwd)
py=$repo/.venv/bin/python
work=$(mktemp -d /tmp/academy-compare.XXXX)
data=$(cd "$repo" && $py -c "from academy.config import load_config; print(load_config().replay.data_dir.resolve())")
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
git -C "$repo" worktree add -q --detach "$work/base" "$base_rev"
trap 'git -C "$repo" worktree remove --force "$work/base"' EXIT
declare -A code=([base]=$work/base [head]=$repo)

(cd "$work/base" && PYTHONPATH=$work/base $py -m academy.cli demo --quick --json --seed 0 \
    --home "$work/home" --out "$work/demo" > "$work/demo.json")

copy_home() {  # copy_home TAG: the frozen home under another path, its config migrated to HEAD's keys
    rm -rf "$work/$1" && cp -r "$work/home" "$work/$1"
    sed -i "s#$work/home#$work/$1#g" "$work/$1/academy.yaml"
    if [ "$2" = head ]; then
        sed -i "s/^  router_model:/  learned_router:/; s/replay_fraction:/retention_fraction:/" "$work/$1/academy.yaml"
    fi
}
status=0
for side in base head; do
    src=${code[$side]}
    copy_home "data-$side" "$side"
    for step in snapshot gaps datasets; do
        (cd "$src" && PYTHONPATH=$src $py -m academy.cli evolve $step -c "$work/data-$side/academy.yaml" \
            --home "$work/data-$side" --data "$work/data-$side/datasets" > /dev/null)
    done
    (cd "$work/data-$side/datasets" && find . -type f | sort | xargs md5sum) > "$work/datasets-$side.md5"
    copy_home "route-$side" "$side"
    (cd "$src" && PYTHONPATH=$src $py "$repo/scripts/routing_decisions.py" "$work/route-$side" \
        > "$work/decisions-$side.txt" 2> /dev/null)
    (cd "$src" && PYTHONPATH=$src $py -m academy.cli bench replay --set mt_bench --set gsm8k --json --data "$data" \
        --out "$work/replay-$side" | $py -c 'import json,sys
def drop(x):
    if isinstance(x, dict): return {k: drop(v) for k, v in x.items() if k != "seconds"}
    if isinstance(x, list): return [drop(v) for v in x]
    return x
print(json.dumps(drop(json.load(sys.stdin)), sort_keys=True))' > "$work/replay-$side.json")
    copy_home "night-$side" "$side"
    (cd "$src" && PYTHONPATH=$src $py -m academy.cli evolve run -c "$work/night-$side/academy.yaml" \
        --home "$work/night-$side" > /dev/null 2>&1)
    (cd "$work/night-$side/nightly/candidates" && for f in */eval.json */promotion.json */train.json; do
        echo "== $f"; $py -c 'import json,sys
def drop(x):
    if isinstance(x, dict):
        return {k: drop(v) for k, v in x.items() if k not in ("base", "peer") and "seconds" not in k}
    if isinstance(x, list): return [drop(v) for v in x]
    return x
print(json.dumps(drop(json.load(open(sys.argv[1]))), sort_keys=True))' "$f"; done) > "$work/night-$side.txt"
done
for what in datasets-%s.md5 decisions-%s.txt replay-%s.json night-%s.txt; do
    a=$work/$(printf "$what" base); b=$work/$(printf "$what" head)
    if cmp -s "$a" "$b"; then echo "$(printf "$what" '*'): IDENTICAL ($(wc -l < "$a") lines)"
    else echo "$(printf "$what" '*'): DIFFERENT"; diff "$a" "$b" | head -20; status=1; fi
done
echo "outputs in $work"
exit $status
