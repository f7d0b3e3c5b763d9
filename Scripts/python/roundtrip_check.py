"""Does a model directory load in Hugging Face transformers and give the golden logits?

    Scripts/make-fixtures --check MODEL_DIR GOLDEN [--tol 1e-4]

MODEL_DIR holds config.json + model.safetensors (for example written by specdistill from one of
the fixtures); GOLDEN is a golden.safetensors from Tests/TransformerTests/Fixtures/<name>/.
The directory is loaded with AutoModelForCausalLM.from_pretrained (float32, eager attention),
run on the golden `input_ids`, and its logits (and loss on the golden `labels`) are compared with
the golden ones. Prints one line per check, "OK" or "NOT OK" with the largest absolute
difference, and exits 0 only when every check is OK. Weights that transformers had to initialise
because they were missing from the file are reported as NOT OK too.
"""

import argparse
import logging
import os
import sys
import warnings

import torch
import transformers
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("golden")
    ap.add_argument("--tol", type=float, default=1e-4, help="largest allowed |difference| (default 1e-4)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    torch.set_num_threads(1)

    for path in (os.path.join(args.model_dir, "config.json"), os.path.join(args.model_dir, "model.safetensors"), args.golden):
        if not os.path.exists(path):
            sys.exit(f"NOT OK: {path} does not exist")
    golden = load_file(args.golden)
    ids = golden["input_ids"].long()
    labels = golden["labels"].long()

    model, info = AutoModelForCausalLM.from_pretrained(
        args.model_dir, attn_implementation="eager", dtype=torch.float32, output_loading_info=True)
    model.eval()
    ok = True

    def report(what, good, detail):
        nonlocal ok
        ok &= good
        print(f"{'OK' if good else 'NOT OK'}: {what} {detail}")

    missing = [k for k in info.get("missing_keys", [])]
    unexpected = [k for k in info.get("unexpected_keys", [])]
    report("weights", not missing and not unexpected,
           f"(missing {sorted(missing)}, unexpected {sorted(unexpected)})" if missing or unexpected
           else f"({sum(p.numel() for p in model.parameters())} parameters loaded)")
    dtypes = {p.dtype for p in model.parameters()}
    with torch.no_grad():
        out = model(input_ids=ids, labels=labels)
    if out.logits.shape != golden["logits"].shape:
        report("logits", False, f"shape {tuple(out.logits.shape)} vs golden {tuple(golden['logits'].shape)}")
    else:
        diff = (out.logits - golden["logits"]).abs().max().item()
        report("logits", diff <= args.tol, f"max |diff| {diff:.3e} (tol {args.tol:g}, dtypes {sorted(map(str, dtypes))})")
        ldiff = abs(out.loss.item() - golden["loss"].item())
        report("loss", ldiff <= args.tol, f"{out.loss.item():.6f} vs golden {golden['loss'].item():.6f}")
    print("OK" if ok else "NOT OK")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    main()
