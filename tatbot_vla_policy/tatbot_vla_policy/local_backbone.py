"""A SmolVLM-shaped VLM backbone for SmolVLA, written locally: no download, random weights.

SmolVLA builds its vision-language backbone from ``--policy.vlm_model_name``: the
backbone's ``config.json`` (``AutoConfig``) and its processor and tokenizer
(``AutoProcessor``); with ``load_vlm_weights=false`` (SmolVLA's default) the weights are
initialised at random from the config. This tool writes such a directory without touching
the Hub: a ``SmolVLMConfig`` built here, a byte-level BPE tokenizer trained here (the
``tokenizers`` library) on the task vocabulary, with the special tokens SmolVLA looks up
(``<fake_token_around_image>``, ``<global-img>``, ``<image>``, ``<end_of_utterance>``), and
SmolVLM's image and video processors::

    local_backbone outputs/backbones/tiny --tasks "draw a line" "draw an arc"
    lerobot-train --policy.type=smolvla --policy.vlm_model_name=outputs/backbones/tiny \\
        --policy.resize_imgs_with_padding=[64,64] ...

``--size published`` writes the configuration of SmolVLA's published backbone
(SmolVLM2-500M-Video-Instruct: the same dimensions, still random weights and a local
tokenizer) for memory and latency measurements (bench/vla_bench.py).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

# special tokens SmolVLA and SmolVLM's processor look up by name (tokenizer attributes)
IMAGE_TOKENS = {
    "fake_image_token": "<fake_token_around_image>",
    "image_token": "<image>",
    "global_image_token": "<global-img>",
    "end_of_utterance_token": "<end_of_utterance>",
}
PAD_TOKEN = "<|endoftext|>"
DEFAULT_TASKS = ("draw the stencil", "draw a line", "draw an arc", "draw a zigzag")


@dataclass(frozen=True)
class BackboneSize:
    """The dimensions that matter to SmolVLA (vision tower, text model, pixel shuffle)."""

    image_size: int  # px, square input of the vision tower (SmolVLA resizes with padding to it)
    patch_size: int
    vision_hidden: int
    vision_layers: int
    vision_heads: int
    vision_intermediate: int
    text_hidden: int
    text_layers: int
    text_heads: int
    text_kv_heads: int
    text_intermediate: int
    scale_factor: int  # pixel shuffle: image tokens = (image_size / patch_size / scale_factor) ** 2
    vocab_size: int  # tokenizer vocabulary trained here (the published one has 49280)


SIZES = {
    # a few MB: trains on CPU in seconds, for tests and the demo
    "tiny": BackboneSize(64, 16, 32, 2, 2, 64, 64, 4, 4, 2, 128, 2, 512),
    # SmolVLM2-500M-Video-Instruct's config.json (SmolVLA's default vlm_model_name)
    "published": BackboneSize(512, 16, 768, 12, 12, 3072, 960, 32, 15, 5, 2560, 4, 49280),
}


class BackboneError(ValueError):
    """The backbone cannot be written as asked."""


def train_tokenizer(tasks: list[str], vocab_size: int):
    """A byte-level BPE tokenizer (transformers fast tokenizer) trained on ``tasks``: any text
    tokenizes (bytes), the task words become single tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    special = [PAD_TOKEN, *IMAGE_TOKENS.values()]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([*tasks, *(t.lower() for t in tasks)], trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD_TOKEN,
        eos_token=PAD_TOKEN,
        bos_token=PAD_TOKEN,
        unk_token=PAD_TOKEN,
        extra_special_tokens=IMAGE_TOKENS,
        model_max_length=8192,
    )


def backbone_config(size: BackboneSize, vocab_size: int):
    """SmolVLMConfig with these dimensions (Llama text model, SigLIP-style vision tower)."""
    from transformers import SmolVLMConfig

    return SmolVLMConfig(
        vision_config={
            "hidden_size": size.vision_hidden,
            "intermediate_size": size.vision_intermediate,
            "num_hidden_layers": size.vision_layers,
            "num_attention_heads": size.vision_heads,
            "patch_size": size.patch_size,
            "image_size": size.image_size,
        },
        text_config={
            "model_type": "llama",
            "hidden_size": size.text_hidden,
            "intermediate_size": size.text_intermediate,
            "num_hidden_layers": size.text_layers,
            "num_attention_heads": size.text_heads,
            "num_key_value_heads": size.text_kv_heads,
            "head_dim": size.text_hidden // size.text_heads,
            "vocab_size": vocab_size,
            "max_position_embeddings": 8192,
            "rope_theta": 100000.0,
            "rms_norm_eps": 1e-5,
            "pad_token_id": 0,
        },
        scale_factor=size.scale_factor,
        image_token_id=0,  # set from the tokenizer by write_backbone
        tie_word_embeddings=False,
    )


def write_backbone(output: str | Path, size: str = "tiny", tasks: list[str] | tuple[str, ...] = DEFAULT_TASKS) -> Path:
    """Write config.json, the tokenizer and SmolVLM's processors into ``output``; returns it."""
    from transformers import SmolVLMImageProcessor, SmolVLMProcessor, SmolVLMVideoProcessor

    if size not in SIZES:
        raise BackboneError(f"unknown size {size!r}: choose one of {sorted(SIZES)}")
    tasks = [t for t in tasks if t.strip()]
    if not tasks:
        raise BackboneError("no task text to train the tokenizer on: pass at least one --tasks string")
    dims = SIZES[size]
    output = Path(output).expanduser()
    if output.exists() and any(output.iterdir()):
        raise BackboneError(f"{output} exists and is not empty: choose a new directory or remove it")
    tokenizer = train_tokenizer(tasks, dims.vocab_size)
    config = backbone_config(dims, len(tokenizer))
    config.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKENS["image_token"])
    edge = {"longest_edge": dims.image_size}
    image_tokens = (dims.image_size // dims.patch_size // dims.scale_factor) ** 2
    processor = SmolVLMProcessor(
        image_processor=SmolVLMImageProcessor(size=edge, max_image_size=edge, do_image_splitting=False),
        tokenizer=tokenizer,
        video_processor=SmolVLMVideoProcessor(size=edge, max_image_size=edge),
        image_seq_len=image_tokens,
    )
    output.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(output)
    processor.save_pretrained(output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="local_backbone",
        description=__doc__.split("\n\n")[0],
        epilog="Then train with: lerobot-train --policy.type=smolvla --policy.vlm_model_name=OUTPUT "
        "--policy.resize_imgs_with_padding=[S,S] (S = the backbone's image size: 64 tiny, 512 published)",
    )
    parser.add_argument("output", type=Path, help="new directory to write the backbone into")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny", help="dimensions (default: tiny)")
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=list(DEFAULT_TASKS),
        metavar="TEXT",
        help="task prompts the tokenizer is trained on (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        path = write_backbone(args.output, args.size, args.tasks)
    except BackboneError as exc:
        print(f"local_backbone: error: {exc}", file=sys.stderr)
        return 2
    dims = SIZES[args.size]
    print(f"{path}: SmolVLM-shaped {args.size} backbone, {dims.image_size}x{dims.image_size} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
