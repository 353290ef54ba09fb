"""List the registered backbones: family, shape, the paper's prefill layers P, and where the
weights come from. Random-init backbones copy a model's shape without its weights (for tests and
for timing); their accuracy means nothing and every output labels them.

With --check NAME, load that backbone and run one forward pass to confirm its hidden size.
"""

from __future__ import annotations

import argparse

from revmux.backbones import known_backbones, resolve_backbone
from revmux.backbones.registry import cached_model_dir
from revmux.cli.common import add_resources_argument

HELP = "list registered backbones, or load one and check it with --check"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_resources_argument(parser)
    parser.add_argument("--check", metavar="NAME", action="append", default=[], help="load NAME and run a forward pass")


def _check(name: str, resources) -> None:
    import torch

    from revmux.backbones.load import load_backbone
    from revmux.backbones.stages import stage_backbone

    backbone = load_backbone(resolve_backbone(name), resources)
    spec, model = backbone.spec, backbone.model
    tokens = backbone.tokenizer("The capital of France is", return_tensors="pt") if backbone.tokenizer else None
    ids = tokens["input_ids"] if tokens is not None else torch.randint(0, model.config.vocab_size, (1, 8))
    staged = stage_backbone(backbone)  # the stack multiplexing splits (T5: the encoder), whatever the family
    with torch.no_grad():
        hidden, mask = staged.embed(staged.token_batch(ids, torch.ones_like(ids)))
        hidden = staged.run_layers(hidden, mask, 0, staged.num_layers)
    parameters = sum(p.numel() for p in model.parameters())
    print(
        f"{name}: {type(model).__name__}, {parameters / 1e6:.1f}M parameters, "
        f"hidden states {tuple(hidden.shape)} (expected width {spec.hidden_size}), {spec.provenance}"
    )


def run(args: argparse.Namespace) -> int:
    if args.check:
        for name in args.check:
            _check(name, args.resources)
        return 0
    print(f"{'name':26} {'family':16} {'layers':>6} {'hidden':>6} {'P':>3}  source")
    for name in known_backbones():
        spec = resolve_backbone(name)
        prefill = f"{spec.default_prefill_layers}" + ("" if spec.paper_prefill_layers is not None else "*")
        cached = " [in cache]" if cached_model_dir(spec, args.resources).is_dir() else ""
        print(f"{name:26} {spec.family:16} {spec.num_layers:>6} {spec.hidden_size:>6} {prefill:>3}  {spec.provenance}{cached}")
    print("\nP: prefill layers (the paper's combine_first); * = not given by the paper, half the layers by default.")
    return 0
