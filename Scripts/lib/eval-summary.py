"""The summary of several `eval --out` JSON files (runs of the same drafts): per draft the median
alpha, tokens per target call, c, v, predicted and measured speedup with its range, and whether
every output equalled plain decoding's (n/a when sampling).

    python3 Scripts/lib/eval-summary.py runs/x/eval-1.json runs/x/eval-2.json ...
"""
import json, sys, statistics
rows, plain = {}, []
for path in sys.argv[1:]:
    for t in json.load(open(path))["tasks"]:
        p = t["plain"]["statistics"]; plain.append(p["emitted"] / p["decodeSeconds"])
        for d in t["drafts"]:
            rows.setdefault(d["name"], []).append(dict(d["derived"], same=d.get("outputsIdenticalToPlain")))
print("plain decoding, tok/s per run:", " ".join(f"{p:.0f}" for p in plain))
print("| draft | alpha | tokens / call | c | v | predicted tau/(gamma c+v) | measured speedup, median (min–max) | = plain |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for name, xs in rows.items():
    med = lambda k: statistics.median(x.get(k) or 0 for x in xs)
    s = [x.get("measuredSpeedup") or 0 for x in xs]
    same = [x["same"] for x in xs]
    mark = "n/a" if any(v is None for v in same) else "yes" if all(same) else "NO"
    print(f"| {name} | {med('alphaPerJudged'):.3f} | {med('tokensPerTargetCall'):.2f} | {med('baselineCostRatio'):.3f} | "
          f"{med('verifyCostInTargetSteps'):.2f} | {med('predictedSpeedupWithVerifyCost'):.2f}× | "
          f"{statistics.median(s):.2f}× ({min(s):.2f}–{max(s):.2f}) | {mark} |")
