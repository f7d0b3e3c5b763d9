"""PyTorch (Hugging Face transformers) baseline for specdistill's benchmarks, float32, CPU, eager mode
(no torch.compile). Run through Scripts/compare-torch (which sets up the pinned virtual environment).

For a draft and a target model with random weights (Llama-style by default, `--arch gpt2` for
GPT-2-style), V 8192, context 256:
  draft   L 2, C 128, NH 4 (HS 32), F 344 (SwiGLU) / 512 (GPT-2, 4C)
  target  L 6, C 384, NH 6 (HS 64), F 1024 (SwiGLU) / 1536 (GPT-2, 4C)
it measures
  train      tokens/s of forward + backward + AdamW step at B 16 x T 256 (median of timed steps)
  generate   batch-1 greedy decoding tokens/s with HF generate (prompt 16, 128 new tokens)
  loop       the same with a hand-written loop over past_key_values
  append     time of one forward of 5 tokens and of 1 token at a cache length of 128, and their ratio
and, when a SmolLM2 GGUF is in ~/.cache/specdistill/models/, greedy decoding tokens/s of that model
on "The capital of France is" (64 new tokens). Prints a table; --json FILE writes the numbers.
"""

import argparse
import copy
import glob
import json
import os
import platform
import statistics
import sys
import time
import warnings

os.environ.setdefault("TQDM_DISABLE", "1")  # GGUF de-quantisation progress bars

import torch
import transformers
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig

V, CONTEXT = 8192, 256
SIZES = {  # name -> (L, C, NH, F for SwiGLU)
    "draft": (2, 128, 4, 344),
    "target": (6, 384, 6, 1024),
}


def make_config(arch, name, attn):
    L, C, NH, F = SIZES[name]
    if arch == "llama":
        cfg = LlamaConfig(vocab_size=V, hidden_size=C, intermediate_size=F, num_hidden_layers=L,
                          num_attention_heads=NH, num_key_value_heads=NH,
                          max_position_embeddings=CONTEXT, rope_theta=10000.0,
                          tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    else:
        cfg = GPT2Config(vocab_size=V, n_positions=CONTEXT, n_embd=C, n_layer=L, n_head=NH,
                         n_inner=4 * C, activation_function="gelu_new", resid_pdrop=0.0,
                         embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=2)
    cfg._attn_implementation = attn
    return cfg


def build(arch, name, attn):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(make_config(arch, name, attn), attn_implementation=attn,
                                             dtype=torch.float32)
    return model


def median_time(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def bench_train(model, batch, seq, warmup, reps):
    model.train()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, V, (batch, seq), generator=g)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()

    med, times = median_time(step, reps, warmup)
    model.eval()
    n = sum(p.numel() for p in model.parameters())
    return {"tokens_per_s": batch * seq / med, "best_tokens_per_s": batch * seq / min(times),
            "step_s": med, "steps_s": times, "batch": batch,
            "seq": seq, "params": n, "gflops_per_s_6N": 6 * n * batch * seq / med / 1e9}


@torch.inference_mode()
def greedy_loop(model, prompt, new_tokens):
    """Prefill the prompt, then one token per forward with past_key_values; returns the new ids."""
    out = model(input_ids=prompt, use_cache=True)
    past = out.past_key_values
    nxt = out.logits[:, -1].argmax(-1, keepdim=True)
    result = [nxt]
    for _ in range(new_tokens - 1):
        out = model(input_ids=nxt, past_key_values=past, use_cache=True)
        past = out.past_key_values
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        result.append(nxt)
    return torch.cat(result, dim=1)


@torch.inference_mode()
def hf_generate(model, prompt, new_tokens):
    # No EOS (rather than min_new_tokens, which would suppress EOS logits and change the tokens):
    # exactly new_tokens greedy tokens, the same as greedy_loop.
    gc = copy.deepcopy(model.generation_config)
    gc.update(max_new_tokens=new_tokens, min_new_tokens=None, do_sample=False, num_beams=1,
              pad_token_id=0)
    gc.eos_token_id = []  # None would fall back to the model config's EOS
    out = model.generate(prompt, generation_config=gc, attention_mask=torch.ones_like(prompt))
    assert out.shape[1] == prompt.shape[1] + new_tokens, out.shape
    return out[:, prompt.shape[1]:]


def bench_decode(model, prompt_len, new_tokens, reps):
    model.eval()
    g = torch.Generator().manual_seed(2)
    prompt = torch.randint(0, V, (1, prompt_len), generator=g)
    t_gen, gen_all = median_time(lambda: hf_generate(model, prompt, new_tokens), reps, 1)
    t_loop, loop_all = median_time(lambda: greedy_loop(model, prompt, new_tokens), reps, 1)
    same = torch.equal(hf_generate(model, prompt, new_tokens), greedy_loop(model, prompt, new_tokens))
    return {"prompt": prompt_len, "new_tokens": new_tokens,
            "generate_tokens_per_s": new_tokens / t_gen, "loop_tokens_per_s": new_tokens / t_loop,
            "generate_best_tokens_per_s": new_tokens / min(gen_all),
            "loop_best_tokens_per_s": new_tokens / min(loop_all),
            "generate_s": gen_all, "loop_s": loop_all, "generate_equals_loop": same}


@torch.inference_mode()
def bench_append(model, cache_len, reps):
    """One forward of k new tokens on top of a KV cache holding cache_len tokens (k = 1 and 5).
    The cache is copied before each call (outside the timed region), so every call sees length cache_len."""
    model.eval()
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(0, V, (1, cache_len + 5), generator=g)
    base = model(input_ids=ids[:, :cache_len], use_cache=True).past_key_values
    times = {1: [], 5: []}
    for r in range(reps + 2):
        for k in (1, 5):  # interleaved, so both see the same machine state
            past = copy.deepcopy(base)
            t0 = time.perf_counter()
            model(input_ids=ids[:, cache_len:cache_len + k], past_key_values=past, use_cache=True)
            dt = time.perf_counter() - t0
            if r >= 2:
                times[k].append(dt)
    t1, t5 = statistics.median(times[1]), statistics.median(times[5])
    return {"cache_len": cache_len, "t1_ms": t1 * 1e3, "t5_ms": t5 * 1e3, "ratio_5_over_1": t5 / t1,
            "t1_best_ms": min(times[1]) * 1e3, "t5_best_ms": min(times[5]) * 1e3}


def bench_smollm2(models_dir, new_tokens, reps):
    files = sorted(glob.glob(os.path.join(models_dir, "*[Ss]mol[Ll][Mm]2*.gguf")))
    if not files:
        print(f"SmolLM2: skipped (no *SmolLM2*.gguf in {models_dir}; run Scripts/get-model smollm2)")
        return None
    path = files[0]
    from transformers import AutoTokenizer
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path),
                                                 dtype=torch.float32).eval()
    load_s = time.perf_counter() - t0
    prompt = tok("The capital of France is", return_tensors="pt").input_ids
    t_gen, _ = median_time(lambda: hf_generate(model, prompt, new_tokens), reps, 1)
    t_loop, _ = median_time(lambda: greedy_loop(model, prompt, new_tokens), reps, 1)
    ids = greedy_loop(model, prompt, new_tokens)
    text = tok.decode(ids[0], skip_special_tokens=False)
    return {"file": os.path.basename(path), "load_s": load_s, "prompt_ids": prompt[0].tolist(),
            "params": sum(p.numel() for p in model.parameters()), "prompt_tokens": prompt.shape[1],
            "new_tokens": new_tokens, "generate_equals_loop": torch.equal(
                hf_generate(model, prompt, new_tokens), ids), "generate_tokens_per_s": new_tokens / t_gen,
            "loop_tokens_per_s": new_tokens / t_loop, "first_ids": ids[0, :16].tolist(), "text": text}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--arch", choices=["llama", "gpt2"], default="llama", help="model family (default llama)")
    ap.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa",
                    help="HF attention implementation (default sdpa, HF's own default)")
    ap.add_argument("--models", default="draft,target", help="comma list of draft,target (default both)")
    ap.add_argument("--train-steps", type=int, default=5, help="timed training steps (default 5; 2 warm-up)")
    ap.add_argument("--decode-reps", type=int, default=5, help="timed decoding runs (default 5; 1 warm-up)")
    ap.add_argument("--append-reps", type=int, default=21, help="timed append forwards each (default 21)")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--smollm2", choices=["auto", "skip"], default="auto",
                    help="SmolLM2 GGUF decoding if the file exists (default auto)")
    ap.add_argument("--models-dir", default=os.path.expanduser("~/.cache/specdistill/models"))
    ap.add_argument("--json", help="write the results to this JSON file")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    torch.set_num_threads(args.threads)

    results = {"torch": torch.__version__, "transformers": transformers.__version__,
               "threads": args.threads, "arch": args.arch, "attn": args.attn, "dtype": "float32",
               "machine": platform.processor() or platform.machine(),
               "loadavg_start": os.getloadavg(), "models": {}}
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, threads {args.threads}, "
          f"arch {args.arch}, attention {args.attn}, float32, eager mode", flush=True)
    for name in [n for n in args.models.split(",") if n]:
        if name not in SIZES:
            sys.exit(f"error: unknown model {name!r}; use draft and/or target")
        model = build(args.arch, name, args.attn)
        r = {"config": dict(zip(("L", "C", "NH", "F"), SIZES[name]), V=V, context=CONTEXT)}
        if args.arch == "gpt2":
            r["config"]["F"] = 4 * SIZES[name][1]
        t0 = time.perf_counter()
        if not args.skip_train:
            r["train"] = bench_train(model, 16, CONTEXT, 2, args.train_steps)
            print(f"{name}: train {r['train']['tokens_per_s']:.0f} tok/s", flush=True)
        r["decode"] = bench_decode(model, 16, 128, args.decode_reps)
        print(f"{name}: decode generate {r['decode']['generate_tokens_per_s']:.1f} tok/s, "
              f"loop {r['decode']['loop_tokens_per_s']:.1f} tok/s", flush=True)
        r["append"] = bench_append(model, 128, args.append_reps)
        r["wall_s"] = time.perf_counter() - t0
        results["models"][name] = r
    if args.smollm2 == "auto":
        s = bench_smollm2(args.models_dir, 64, 3)
        if s:
            results["smollm2"] = s

    results["loadavg_end"] = os.getloadavg()
    print(f"\nload average (1, 5, 15 min) at start {tuple(round(x, 2) for x in results['loadavg_start'])}, "
          f"at end {tuple(round(x, 2) for x in results['loadavg_end'])} (2 cores; above ~1 other "
          "processes compete and 2-thread numbers suffer most)")
    print("Medians, with the best run in parentheses (noise from other processes only slows runs down).")
    print(f"| model | params | train tok/s (B16xT256) | step s | ~GFLOP/s (6N) | generate tok/s | loop tok/s "
          f"| fwd 1 tok @128 ms | fwd 5 tok @128 ms | 5/1 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in results["models"].items():
        tr, de, ap_ = r.get("train"), r["decode"], r["append"]
        params = tr["params"] if tr else "-"
        print(f"| {args.arch} {name} | {params} | {tr['tokens_per_s']:.0f} ({tr['best_tokens_per_s']:.0f}) | "
              f"{tr['step_s']:.3f} | {tr['gflops_per_s_6N']:.1f} | "
              if tr else f"| {args.arch} {name} | - | - | - | - | ", end="")
        print(f"{de['generate_tokens_per_s']:.1f} ({de['generate_best_tokens_per_s']:.1f}) | "
              f"{de['loop_tokens_per_s']:.1f} ({de['loop_best_tokens_per_s']:.1f}) | "
              f"{ap_['t1_ms']:.2f} ({ap_['t1_best_ms']:.2f}) | {ap_['t5_ms']:.2f} ({ap_['t5_best_ms']:.2f}) | "
              f"{ap_['ratio_5_over_1']:.2f} |")
    s = results.get("smollm2")
    if s:
        print(f"\nSmolLM2 ({s['file']}, {s['params']} params, dequantised to float32, loaded in {s['load_s']:.1f} s): "
              f"greedy batch 1, prompt {s['prompt_tokens']} tokens, {s['new_tokens']} new: "
              f"generate {s['generate_tokens_per_s']:.1f} tok/s, loop {s['loop_tokens_per_s']:.1f} tok/s")
        print(f"  prompt ids {s['prompt_ids']}, first greedy ids {s['first_ids']}, "
              f"generate == loop: {s['generate_equals_loop']}")
        print(f"  text: {s['text']!r}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
