"""Policies at their published sizes: parameters, checkpoint size, load time, chunk latency, memory.

For act, diffusion, smolvla, pi0 and pi05 the bench builds LeRobot's policy from a config with
the real dimensions (ACT and diffusion defaults; SmolVLA on local_backbone's ``published``
SmolVLM2-500M configuration; pi0/pi0.5 with their PaliGemma gemma_2b + gemma_300m expert),
with random weights: nothing is downloaded. Each policy runs in its own process (so its peak
memory is its own): save_pretrained, from_pretrained (load time), warm-up, then timed
``predict_action_chunk`` calls on a batch as the processors would hand it over (2 cameras,
14-joint state, a tokenized prompt). Parameters are counted on the meta device first; a policy
that would not fit in this machine's free memory is skipped with the reason printed (LeRobot
builds every policy in float32 first: pi0/pi0.5 need ``--dtype bfloat16`` on a 24 GB machine). On
CUDA the policies run in bfloat16 (``--compile``: torch.compile), and the seed's targets are
checked: inference > 10 Hz, GPU memory < 8 GB, model < 2 GB::

    python bench/vla_bench.py                                   # CPU, float32: what fits
    python bench/vla_bench.py --dtype bfloat16 --policies pi0 pi05   # CPU, bf16 (AMX/AVX512-bf16)
    python bench/vla_bench.py --device cuda                     # GPU: bf16, peak GPU memory, targets
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POLICIES = ("act", "diffusion", "smolvla", "pi0", "pi05")
CAMERAS = ("realsense1", "realsense2")
JOINTS = 14
IMAGE_HW = (480, 640)  # the D405 frames the robot publishes
TARGET_HZ, TARGET_GPU_GB, TARGET_MODEL_GB = 10.0, 8.0, 2.0
# host bytes per parameter at the peak of build, save and load (measured: pi0 4028 M parameters in
# bf16 peaked at 18.8 GB RSS, 2026-12-03; float32: the model, its saved copy and the loaded one)
PEAK_BYTES = {"float32": 10.0, "bfloat16": 4.7}


def build_config(policy: str, backbones: Path):
    """LeRobot config at the published size, with tatbot's features."""
    from lerobot.configs import FeatureType, PolicyFeature
    from lerobot.policies import make_policy_config

    inputs = {"observation.state": PolicyFeature(type=FeatureType.STATE, shape=(JOINTS,))}
    for cam in CAMERAS:
        inputs[f"observation.images.{cam}"] = PolicyFeature(type=FeatureType.VISUAL, shape=(3, *IMAGE_HW))
    outputs = {"action": PolicyFeature(type=FeatureType.ACTION, shape=(JOINTS,))}
    kwargs = {"input_features": inputs, "output_features": outputs, "device": "cpu", "push_to_hub": False}
    if policy in ("act", "diffusion"):
        kwargs["pretrained_backbone_weights"] = None
    if policy == "smolvla":
        from tatbot_vla_policy.local_backbone import write_backbone

        backbone = backbones / "smolvlm_published"
        if not backbone.exists():
            write_backbone(backbone, "published")
        kwargs["vlm_model_name"] = str(backbone)
    return make_policy_config(policy, **kwargs)


def example_batch(policy, device, dtype):
    """What the pre-processor hands the model: normalized tensors, the prompt tokenized."""
    import torch

    config = policy.config
    steps = int(getattr(config, "n_obs_steps", 1) or 1)
    lead = (1, steps) if steps > 1 else (1,)  # diffusion: a history of n_obs_steps observations
    batch = {"observation.state": torch.zeros(*lead, JOINTS)}
    for cam in CAMERAS:
        batch[f"observation.images.{cam}"] = torch.rand(*lead, 3, *IMAGE_HW)
    if config.type in ("smolvla", "pi0", "pi05"):
        length = int(getattr(config, "tokenizer_max_length", 48))
        batch["observation.language.tokens"] = torch.randint(1, 200, (1, length))
        batch["observation.language.attention_mask"] = torch.ones(1, length, dtype=torch.bool)
    return {k: v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype) for k, v in batch.items()}


def count_parameters(policy: str, backbones: Path) -> int:
    import torch
    from lerobot.policies import get_policy_class

    config = build_config(policy, backbones)
    config.device = "meta"  # pi0 moves itself to config.device (the config's own check allows no meta)
    with torch.device("meta"):
        model = get_policy_class(policy)(config)
    return sum(p.numel() for p in model.parameters())


def measure(policy: str, device: str, dtype_name: str, iterations: int, compile_model: bool, backbones: Path) -> dict:
    """In this (child) process: build, save, load, time; returns the row."""
    import torch
    from lerobot.policies import get_policy_class

    torch.manual_seed(0)
    dtype = getattr(torch, dtype_name)
    cls = get_policy_class(policy)
    config = build_config(policy, backbones)
    if hasattr(config, "dtype"):  # pi0/pi0.5 cast themselves (keeping their vision tower in float32)
        config.dtype = dtype_name
    with tempfile.TemporaryDirectory() as tmp:
        cls(config).save_pretrained(tmp)
        size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
        start = time.perf_counter()
        model = cls.from_pretrained(tmp, config=config)
        model.to(device=device, dtype=dtype).eval()
        load_s = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters())
    batch = example_batch(model, device, dtype)
    call = torch.compile(model.predict_action_chunk) if compile_model else model.predict_action_chunk

    def chunk():
        with torch.inference_mode(), torch.autocast(device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32):
            model.reset()
            out = call(batch)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return out

    for _ in range(2 if not compile_model else 3):
        chunk()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        out = chunk()
        times.append(time.perf_counter() - start)
    times.sort()
    row = {
        "policy": policy,
        "params_m": params / 1e6,
        "checkpoint_gb": size / 1e9,
        "load_s": load_s,
        "chunk": tuple(out.shape[1:]),
        "p50_ms": times[len(times) // 2] * 1e3,
        "p95_ms": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))] * 1e3,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
    }
    if device.startswith("cuda"):
        row["peak_gpu_gb"] = torch.cuda.max_memory_allocated() / 1e9
    return row


def free_memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1e6
    return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    parser.add_argument("--policies", nargs="+", choices=POLICIES, default=list(POLICIES))
    parser.add_argument("--iterations", type=int, default=5, help="timed chunks per policy (default 5)")
    parser.add_argument(
        "--dtype", choices=tuple(PEAK_BYTES), help="model dtype (default: bfloat16 on CUDA, float32 on CPU)"
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile predict_action_chunk (CUDA)")
    parser.add_argument("--torch-threads", type=int, default=0, help="torch threads on CPU (0: torch's default)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--backbones", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    os.environ["HF_HUB_OFFLINE"] = "1"
    if args.child:
        import torch

        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
        print(json.dumps(measure(args.child, args.device, args.dtype, args.iterations, args.compile, args.backbones)))
        return 0

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("vla_bench: error: --device cuda but CUDA is not available", file=sys.stderr)
        return 2
    gpu = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU"
    print(
        f"vla_bench {time.strftime('%Y-%m-%d %H:%M')}: {gpu}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{args.dtype}{', torch.compile' if args.compile else ''}; "
        f"random weights at the published sizes, {args.iterations} timed chunks each",
        flush=True,
    )
    rows, skipped = [], []
    with tempfile.TemporaryDirectory() as backbones:
        for policy in args.policies:
            params = count_parameters(policy, Path(backbones))
            need_gb = params * PEAK_BYTES[args.dtype] / 1e9
            if not args.device.startswith("cuda") and need_gb > 0.9 * free_memory_gb():
                skipped.append(
                    f"{policy}: skipped on CPU: {params / 1e6:.0f} M parameters need ~{need_gb:.0f} GB to build, save "
                    f"and load in {args.dtype}, more than the {free_memory_gb():.0f} GB free; run it with --device "
                    "cuda" + (" or --dtype bfloat16" if args.dtype == "float32" else "")
                )
                print(skipped[-1], flush=True)
                continue
            print(f"{policy}: {params / 1e6:.1f} M parameters ...", flush=True)
            command = [sys.executable, __file__, "--child", policy, "--device", args.device, "--dtype", args.dtype]
            command += ["--backbones", backbones]
            command += ["--iterations", str(args.iterations), "--torch-threads", str(args.torch_threads)]
            command += ["--compile"] if args.compile else []
            proc = subprocess.run(command, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                skipped.append(f"{policy}: failed: {proc.stderr.strip().splitlines()[-1:]}")
                print(skipped[-1], flush=True)
                continue
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    gpu_col = args.device.startswith("cuda")
    print(
        "\n| policy | parameters | checkpoint | load | chunk | latency p50 / p95 | chunk rate | peak RSS |"
        + (" peak GPU |" if gpu_col else "")
    )
    print("|---|---|---|---|---|---|---|---|" + ("---|" if gpu_col else ""))
    for r in rows:
        line = (
            f"| {r['policy']} | {r['params_m']:.1f} M | {r['checkpoint_gb']:.2f} GB | {r['load_s']:.1f} s | "
            f"{r['chunk'][0]}x{r['chunk'][1]} | {r['p50_ms']:.0f} / {r['p95_ms']:.0f} ms | "
            f"{1e3 / r['p95_ms']:.1f} Hz | {r['peak_rss_gb']:.1f} GB |"
        )
        print(line + (f" {r['peak_gpu_gb']:.2f} GB |" if gpu_col else ""))
    for line in skipped:
        print(f"- {line}")
    print(
        f"\nseed targets on {gpu} (chunk rate at p95 > {TARGET_HZ:g} Hz, model < {TARGET_MODEL_GB:g} GB"
        + (f", GPU memory < {TARGET_GPU_GB:g} GB)" if gpu_col else ")")
    )
    for r in rows:
        checks = [("inference", 1e3 / r["p95_ms"] > TARGET_HZ), ("model size", r["checkpoint_gb"] < TARGET_MODEL_GB)]
        if gpu_col:
            checks.append(("GPU memory", r["peak_gpu_gb"] < TARGET_GPU_GB))
        print(f"  {r['policy']}: " + ", ".join(f"{name} {'PASS' if ok else 'FAIL'}" for name, ok in checks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
