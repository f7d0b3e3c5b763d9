"""Pools runs of Scripts/experiment-help-baselines on disjoint prompt sets (e.g. `N=32` and
`SKIP=32 N=68`) into one set of equal-fraction comparisons: each policy's pooled teacher fraction
(Σ teacher tokens / Σ tokens over every prompt), its ROUGE-L against the teacher's text and against
the references, and the learned policy minus each baseline at its fraction with paired bootstrap
intervals over all the prompts (help_quality's tables).
  python3 Scripts/python/pool_help_runs.py "POLICIES" "BUDGETS" OUT_DIR...
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from help_quality import equal_fraction_intervals, equal_fraction_table, outputs, per_prompt

policies, budgets, dirs = sys.argv[1].split(), sys.argv[2].split(), sys.argv[3:]


def references(d, kind):
    return ([json.loads(l)["answer"] for l in open(f"{d}/prompts.jsonl")] if kind == "reference"
            else outputs(f"{d}/decode/teacher.jsonl"))


def scores(name, kind):
    return [s for d in dirs for s in per_prompt(f"{d}/decode/{name}.jsonl", references(d, kind))]


def fraction(name):
    rows = [json.loads(l) for d in dirs for l in open(f"{d}/decode/{name}.jsonl")]
    return sum(r.get("teacher_tokens", 0) for r in rows) / sum(r["tokens"] for r in rows)


names = ["student", "teacher"] + [f"{p}-{b}" for p in policies for b in budgets]
for kind in ("teacher", "reference"):
    key = f"rouge_l_vs_{kind}"
    sc = {n: scores(n, kind) for n in names}
    mean = lambda n: sum(sc[n]) / len(sc[n])
    points = [{"name": "student", "policy": "plain student", "teacher_fraction": 0.0, key: mean("student")},
              {"name": "teacher", "policy": "plain teacher", "teacher_fraction": 1.0, key: mean("teacher")}]
    points += [{"name": f"{p}-{b}", "policy": p, "budget": float(b), "teacher_fraction": fraction(f"{p}-{b}"),
                key: mean(f"{p}-{b}")} for p in policies for b in budgets]
    print(f"\n{len(sc['student'])} prompts, ROUGE-L vs {kind}\n")
    for q in points:
        print(f"  {q['name']}: fraction {q['teacher_fraction']:.3f}, {key} {q[key]:.3f}")
    print("\n".join(equal_fraction_table(points, key=key)))
    print()
    print("\n".join(equal_fraction_intervals(points, sc)))
