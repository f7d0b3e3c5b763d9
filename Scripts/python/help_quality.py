"""Quality of help-mode outputs (Scripts/experiment-help, Scripts/experiment-help-baselines):
GSM8K exact match (the output's final answer equals the reference's: the last number inside the
last \\boxed{...} when the output has one, as Qwen's math evaluation reads it, else the last number) and
ROUGE-L F1 over whitespace tokens against another output (the plain teacher's)."""
import json
import re


def reference_answer(response):
    m = re.search(r"(?:####|The final answer is:)\s*([-\d,\.]+)", response)
    return m.group(1).replace(",", "").rstrip(".") if m else None


def last_number(text):
    nums = re.findall(r"-?\d[\d,]*\.?\d*", text)
    return nums[-1].replace(",", "").rstrip(".") if nums else None


def final_answer(text):
    """The output's final answer: the last number of its last \\boxed{...}, else its last number."""
    boxed = re.findall(r"\\boxed\{([^{}]*)\}", text)
    return (last_number(boxed[-1]) if boxed else None) or last_number(text)


def same_number(a, b):
    try:
        return a is not None and b is not None and float(a) == float(b)
    except ValueError:
        return False


def outputs(path):
    return [json.loads(l)["output"] for l in open(path)]


def exact_matches(path, answers):
    """Per output, 1 when its final answer equals the reference's, else 0 (the same order)."""
    return [int(same_number(final_answer(o), reference_answer(a))) for o, a in zip(outputs(path), answers)]


def exact_match(path, answers):
    m = exact_matches(path, answers)
    return sum(m) / len(m)


def rouge_l(a, b):
    a, b = a.split(), b.split()
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    return 0.0 if lcs == 0 else 2 * lcs / (len(a) + len(b))


def agreement(path, reference_outputs):
    return sum(rouge_l(o, t) for o, t in zip(outputs(path), reference_outputs)) / len(reference_outputs)


def segment(curve, fraction):
    """The two points of a curve [(fraction, value)] around `fraction` (sorted by fraction) and the
    weight w of the upper one, or None outside them: value = (1 − w)·y0 + w·y1."""
    pts = sorted(curve, key=lambda c: c[0])
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 <= fraction <= x1:
            return y0, y1, (0.0 if x1 == x0 else (fraction - x0) / (x1 - x0))
    return None


def at_fraction(curve, fraction):
    """Quality read off a policy's curve at a teacher fraction: linear between its measured
    (fraction, quality) points sorted by fraction; None outside them."""
    seg = segment(curve, fraction)
    return None if seg is None else seg[0] + (seg[1] - seg[0]) * seg[2]


def policy_curves(points, value):
    """The help policies of `points` (in order) and each one's curve [(teacher fraction, value(p))]
    through the plain student at 0, its own points and the plain teacher at 1."""
    ends = {p["policy"]: value(p) for p in points if p.get("policy") in ("plain student", "plain teacher")}
    policies = []
    for p in points:
        if "budget" in p and p["policy"] not in policies:
            policies.append(p["policy"])
    return policies, {q: [(0.0, ends["plain student"]), (1.0, ends["plain teacher"])]
                         + [(p["teacher_fraction"], value(p)) for p in points if p.get("policy") == q and "budget" in p]
                      for q in policies}


def equal_fraction_table(points, key="rouge_l_vs_teacher"):
    """Markdown lines comparing each learned policy (a name starting with "head") with every other
    help policy at the learned policy's measured teacher fractions: each other policy's curve runs
    through (0, plain student), its own points and (1, plain teacher) and is read at that fraction."""
    policies, curves = policy_curves(points, lambda p: p[key])
    lines = ["| learned policy, budget | its teacher fraction | its " + key + " | "
             + " | ".join(f"{q} at that fraction" for q in policies) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in policies) + " |"]
    for p in points:
        if "budget" not in p or not p["policy"].startswith("head"):
            continue
        cells = []
        for q in policies:
            v = at_fraction(curves[q], p["teacher_fraction"])
            cells.append("-" if v is None else f"{v:.3f}")
        lines.append(f"| {p['policy']}, {p['budget']:g} | {p['teacher_fraction']:.3f} | {p[key]:.3f} | " + " | ".join(cells) + " |")
    return lines


def speculative_costs(path):
    """From `decode --compare --stats json` (its last line, saved at path): the plain target's and
    speculative decoding's (latency per decoded token, target calls per token), prefill excluded."""
    st = json.load(open(path))["statistics"]
    base = st["baseline"]
    plain = (base["decodeSeconds"] / base["emitted"], base["targetCalls"] / base["emitted"])
    spec = ((st["draftSeconds"] + st["verifySeconds"] + st["otherSeconds"]) / st["emitted"], st["targetCalls"] / st["emitted"])
    return plain, spec


def per_prompt(path, references):
    """ROUGE-L of each output of the decode file at path against its reference (the same order)."""
    return [rouge_l(o, r) for o, r in zip(outputs(path), references)]


def bootstrap(statistic, n, draws=4000, seed=17):
    """95% percentile interval of `statistic(indices)` over `draws` resamples of the n prompts with
    replacement (seeded, so a table regenerates bit for bit)."""
    import random
    rng = random.Random(seed)
    values = sorted(statistic([rng.randrange(n) for _ in range(n)]) for _ in range(draws))
    return values[int(0.025 * draws)], values[int(0.975 * draws) - 1]


def bootstrap_interval(differences, draws=4000, seed=17):
    """95% percentile interval of the mean of per-prompt differences, resampling prompts."""
    return bootstrap(lambda s: sum(differences[i] for i in s) / len(s), len(differences), draws, seed)


def fraction_interval(path, draws=4000, seed=17):
    """95% interval of a help decode's teacher-token fraction Σ teacher tokens / Σ tokens (the
    pooled ratio the statistics report), resampling prompts: how closely its prompts pin the
    fraction a policy asks at."""
    rows = [json.loads(l) for l in open(path)]
    asked, tokens = [r.get("teacher_tokens", 0) for r in rows], [r["tokens"] for r in rows]
    return bootstrap(lambda s: sum(asked[i] for i in s) / max(1, sum(tokens[i] for i in s)), len(rows), draws, seed)


def equal_fraction_intervals(points, scores):
    """Markdown lines: each learned policy (name starting with "head") minus every other help policy
    at the learned policy's measured teacher fraction, per prompt, with a paired bootstrap 95%
    interval over prompts. `scores` maps a point's "name" (its decode file) to its per-prompt
    qualities; the other policy's per-prompt value is interpolated between its two points around
    that fraction with the weights the aggregate fractions give (so the mean equals
    ``equal_fraction_table``'s reading), through the plain student at 0 and the teacher at 1."""
    policies, curves = policy_curves(points, lambda p: scores[p["name"]])
    def read(curve, f):
        seg = segment(curve, f)
        return None if seg is None else [(1 - seg[2]) * a + seg[2] * b for a, b in zip(seg[0], seg[1])]
    others = [q for q in policies if not q.startswith("head")]
    lines = ["| learned policy, budget | its teacher fraction | " + " | ".join(f"minus {q} [95% interval]" for q in others) + " |",
             "| --- | --- | " + " | ".join("---" for _ in others) + " |"]
    for p in points:
        if "budget" not in p or not p["policy"].startswith("head"):
            continue
        mine, cells = scores[p["name"]], []
        for q in others:
            theirs = read(curves[q], p["teacher_fraction"])
            if theirs is None:
                cells.append("-")
                continue
            d = [a - b for a, b in zip(mine, theirs)]
            lo, hi = bootstrap_interval(d)
            cells.append(f"{sum(d) / len(d):+.3f} [{lo:+.3f}, {hi:+.3f}]")
        lines.append(f"| {p['policy']}, {p['budget']:g} | {p['teacher_fraction']:.3f} | " + " | ".join(cells) + " |")
    return lines


def budget_steps(points, scores, label="exact match"):
    """Markdown lines: along each help policy's budgets (plain student first, plain teacher last), the
    per-prompt mean of `scores` (a point's "name" → per-prompt values) at each step and the change from
    the step before, with a paired bootstrap 95% interval over prompts: whether the prompts resolve a
    rise (or a fall) between consecutive budgets."""
    policies, _ = policy_curves(points, lambda p: 0.0)
    ends = {p["policy"]: p for p in points if p.get("policy") in ("plain student", "plain teacher")}
    name = lambda p: f"budget {p['budget']:g}" if "budget" in p else p["policy"]
    lines = [f"| policy | from → to | {label} from → to | change [95% interval] |", "| --- | --- | --- | --- |"]
    for q in policies:
        steps = ([ends["plain student"]] + sorted((p for p in points if p.get("policy") == q and "budget" in p),
                                                  key=lambda p: p["budget"]) + [ends["plain teacher"]])
        for a, b in zip(steps, steps[1:]):
            x, y = scores[a["name"]], scores[b["name"]]
            d = [v - u for u, v in zip(x, y)]
            lo, hi = bootstrap_interval(d)
            lines.append(f"| {q} | {name(a)} → {name(b)} | {sum(x) / len(x):.3f} → {sum(y) / len(y):.3f} | "
                         f"{sum(d) / len(d):+.3f} [{lo:+.3f}, {hi:+.3f}] |")
    return lines
