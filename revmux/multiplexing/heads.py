"""Task heads: what turns an answer state (B, d) into class scores (B, C).

Stage 0 (the teacher) decides the head and it stays frozen afterwards:
- `classifier`: BERT-style pooler (dense + tanh) and a linear layer, trained (encoders);
- `label-words`: the frozen LM head restricted to one label word per class (decoders zero-shot, T5);
- `linear`: a trained linear layer started from the label words' LM-head rows (decoders, head-only).
"""

from __future__ import annotations

import torch
from torch import nn

from revmux.backbones.stages import StagedBackbone


class ClassifierHead(nn.Module):
    kind = "classifier"

    def __init__(self, hidden_size: int, num_classes: int):
        super().__init__()
        self.pooler = nn.Linear(hidden_size, hidden_size)
        self.classifier = nn.Linear(hidden_size, num_classes)

    @classmethod
    def for_backbone(cls, backbone: StagedBackbone, num_classes: int) -> "ClassifierHead":
        head = cls(backbone.hidden_size, num_classes)
        pooler = getattr(backbone.model, "pooler", None)
        if pooler is not None:  # start from the pretrained pooler where the checkpoint has one
            head.pooler.load_state_dict(pooler.dense.state_dict())
        return head

    def forward(self, answer):
        return self.classifier(torch.tanh(self.pooler(answer)))


class LabelWordHead(nn.Module):
    kind = "label-words"

    def __init__(self, backbone: StagedBackbone, label_token_ids: list[int]):
        super().__init__()
        self.backbone = [backbone]  # a list keeps the frozen backbone out of this module's parameters
        self.register_buffer("label_token_ids", torch.tensor(label_token_ids), persistent=False)

    def forward(self, answer):
        backbone = self.backbone[0]
        return backbone.label_logits(answer.to(backbone.dtype), self.label_token_ids).float()


class LinearHead(nn.Module):
    kind = "linear"

    def __init__(self, hidden_size: int, num_classes: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, num_classes, bias=False)

    @classmethod
    def for_backbone(cls, backbone: StagedBackbone, label_token_ids: list[int]) -> "LinearHead":
        head = cls(backbone.hidden_size, len(label_token_ids))
        with torch.no_grad():
            head.linear.weight.copy_(backbone.model.lm_head.weight[label_token_ids])
        return head

    def forward(self, answer):
        return self.linear(answer)
