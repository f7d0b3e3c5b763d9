"""Quality of help-mode outputs (Scripts/experiment-help, Scripts/experiment-help-baselines):
GSM8K exact match (the last number of the output equals the reference's final answer) and
ROUGE-L F1 over whitespace tokens against another output (the plain teacher's)."""
import json
import re


def reference_answer(response):
    m = re.search(r"(?:####|The final answer is:)\s*([-\d,\.]+)", response)
    return m.group(1).replace(",", "").rstrip(".") if m else None


def last_number(text):
    nums = re.findall(r"-?\d[\d,]*\.?\d*", text)
    return nums[-1].replace(",", "").rstrip(".") if nums else None


def same_number(a, b):
    try:
        return a is not None and b is not None and float(a) == float(b)
    except ValueError:
        return False


def outputs(path):
    return [json.loads(l)["output"] for l in open(path)]


def exact_match(path, answers):
    outs = outputs(path)
    return sum(same_number(last_number(o), reference_answer(a)) for o, a in zip(outs, answers)) / len(outs)


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
