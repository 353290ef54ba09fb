"""One interface over the three backbone families, split at any layer.

`embed` runs once, `run_layers(start, end)` runs any contiguous block of the split stack (the
encoder for T5) with the position information each family needs rebuilt at the block's edge
(rotary embeddings, T5's relative position bias, attention masks), and `answer_states` finishes
the model: the final norm (and for T5 the whole decoder) run only here, never at the split.
Running [0, P) then [P, L) gives the unsplit model's output; the tests check it per family.

Nothing outside this module branches on the model family.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from revmux.backbones.load import LoadedBackbone
from revmux.data.prompts import format_inputs


@dataclass
class TokenBatch:
    """Tokenised examples, right-padded; `answer_positions` is where each example is scored."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    answer_positions: torch.Tensor
    token_type_ids: torch.Tensor | None = None

    def to(self, device) -> "TokenBatch":
        return TokenBatch(*(t.to(device) if t is not None else None for t in (
            self.input_ids, self.attention_mask, self.answer_positions, self.token_type_ids)))


def label_word_rows(lm_head: nn.Module, label_token_ids: torch.Tensor) -> torch.Tensor:
    """The LM head's rows of the label words, (C, d). An int8 backbone's head (revmux.backbones.quantization)
    keeps its weight packed behind `weight()`: its int8 rows are read and dequantized, not the whole matrix."""
    weight = lm_head.weight() if callable(lm_head.weight) else lm_head.weight
    rows = weight[label_token_ids]
    return rows.dequantize() if rows.is_quantized else rows


class StagedBackbone(nn.Module):
    """A frozen backbone seen as embed -> layers [0, L) -> answer states."""

    family: str

    def __init__(self, loaded: LoadedBackbone):
        super().__init__()
        self.spec = loaded.spec
        self.tokenizer = loaded.tokenizer
        self.model = loaded.model

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def hidden_size(self) -> int:
        return self.spec.hidden_size

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """What the frozen layers compute in; the trainable parts (multiplexer, heads) stay float32."""
        return next(self.model.parameters()).dtype

    def keep_layers(self, depth: int) -> None:
        """Cut the split stack after its first `depth` layers, in place: the model, its config and its saved
        weights keep only those (truncation, an alternative to multiplexing). What follows the stack (the
        final norm, T5's decoder) stays."""
        from revmux.core.errors import RevmuxError

        if problem := self.spec.depth_problem(depth):  # called on the whole backbone, as loaded
            raise RevmuxError(f"truncation {problem}")
        kept = nn.ModuleList(list(self.layers)[:depth])
        self._replace_layers(kept)
        self.layers = kept

    def _replace_layers(self, layers: nn.ModuleList) -> None:
        raise NotImplementedError

    def tokenize(self, task: str, text_a: list[str], text_b: list[str] | None, max_length: int) -> TokenBatch:
        first, second = format_inputs(task, self.spec.prompt_style, text_a, text_b)
        encoded = self.tokenizer(
            first, second, padding=True, truncation=True, max_length=max_length, return_tensors="pt",
        )
        return self.token_batch(encoded["input_ids"], encoded["attention_mask"], encoded.get("token_type_ids"))

    def token_batch(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor | None = None) -> TokenBatch:
        """A batch on the backbone's device, scored where this family scores."""
        return TokenBatch(input_ids, attention_mask, self._answer_positions(attention_mask), token_type_ids).to(self.device)

    def _answer_positions(self, mask: torch.Tensor) -> torch.Tensor:
        return torch.zeros(mask.shape[0], dtype=torch.long)

    def embed(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Input embeddings (B, T, d) and their attention mask (B, T)."""
        raise NotImplementedError

    def run_layers(self, hidden: torch.Tensor, mask: torch.Tensor, start: int, end: int) -> torch.Tensor:
        raise NotImplementedError

    def answer_states(self, hidden: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """States the head scores, (B, K, d): for row b, the state at each of its K answer positions.

        A composite carries its N instances' answer positions (K = N); an instance carries its own (K = 1).
        """
        raise NotImplementedError

    def label_logits(self, answer: torch.Tensor, label_token_ids: torch.Tensor) -> torch.Tensor:
        """Zero-shot scores of label words: the frozen LM head restricted to their first tokens."""
        raise NotImplementedError(f"{self.family} backbones score through a trained head, not label words")

    def forward_full(self, batch: TokenBatch) -> torch.Tensor:
        """The unsplit model's answer states (B, d): the reference the split must reproduce."""
        raise NotImplementedError


class EncoderSplit(StagedBackbone):
    """BERT family: scored at the first token ([CLS]); the task head (pooler + classifier) comes from stage 0."""

    family = "encoder"

    def __init__(self, loaded: LoadedBackbone):
        super().__init__(loaded)
        self.layers = self.model.encoder.layer

    def embed(self, batch):
        hidden = self.model.embeddings(input_ids=batch.input_ids, token_type_ids=batch.token_type_ids)
        return hidden, batch.attention_mask

    def run_layers(self, hidden, mask, start, end):
        from transformers.masking_utils import create_bidirectional_mask

        attention = create_bidirectional_mask(config=self.model.config, inputs_embeds=hidden, attention_mask=mask)
        for layer in self.layers[start:end]:
            hidden = layer(hidden, attention)
        return hidden

    def _replace_layers(self, layers):
        self.model.encoder.layer = layers
        self.model.config.num_hidden_layers = len(layers)

    def answer_states(self, hidden, mask, positions):
        return hidden[:, :1, :].expand(-1, positions.shape[1], -1)

    def forward_full(self, batch):
        return self.model(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, token_type_ids=batch.token_type_ids,
        ).last_hidden_state[:, 0]


class DecoderSplit(StagedBackbone):
    """LLaMA family: scored at the last real token; rotary positions rebuilt at every block."""

    family = "decoder"

    def __init__(self, loaded: LoadedBackbone):
        super().__init__(loaded)
        if self.tokenizer is not None:
            self.tokenizer.padding_side = "right"
            # The instruction and answer slot sit at the end of a decoder prompt: cut long texts from the left.
            self.tokenizer.truncation_side = "left"
            if self.tokenizer.pad_token is None:
                self.tokenizer.pad_token = self.tokenizer.eos_token
        self.decoder = self.model.model
        self.layers = self.decoder.layers

    def _answer_positions(self, mask):
        return mask.sum(dim=1) - 1

    def _replace_layers(self, layers):
        self.decoder.layers = layers
        config = self.model.config
        config.num_hidden_layers = len(layers)
        if getattr(config, "layer_types", None):
            config.layer_types = config.layer_types[:len(layers)]

    def embed(self, batch):
        return self.decoder.embed_tokens(batch.input_ids), batch.attention_mask

    def run_layers(self, hidden, mask, start, end):
        from transformers.masking_utils import create_causal_mask

        position_ids = torch.arange(hidden.shape[1], device=hidden.device).unsqueeze(0)
        attention = create_causal_mask(
            config=self.model.config, inputs_embeds=hidden, attention_mask=mask,
            past_key_values=None, position_ids=position_ids,
        )
        rotary = self.decoder.rotary_emb(hidden, position_ids=position_ids)
        for layer in self.layers[start:end]:
            hidden = layer(hidden, attention_mask=attention, position_embeddings=rotary, position_ids=position_ids)
        return hidden

    def answer_states(self, hidden, mask, positions):
        rows = torch.arange(hidden.shape[0], device=hidden.device).unsqueeze(1)
        return self.decoder.norm(hidden[rows, positions])

    def label_logits(self, answer, label_token_ids):
        return answer @ label_word_rows(self.model.lm_head, label_token_ids).T

    def forward_full(self, batch):
        hidden = self.decoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        return hidden[torch.arange(hidden.shape[0]), batch.answer_positions]


class EncoderDecoderSplit(StagedBackbone):
    """T5: the encoder is split; the decoder reads the (composite) encoder output and is scored at its
    first step, from the start token (the released code feeds `<pad> <extra_id_0>` and scores the second
    step: see the README's deviations). An optional soft prompt from stage 0 is prepended."""

    family = "encoder-decoder"

    def __init__(self, loaded: LoadedBackbone):
        super().__init__(loaded)
        self.encoder = self.model.get_encoder()
        self.layers = self.encoder.block
        self.soft_prompt: nn.Parameter | None = None

    def _replace_layers(self, layers):
        self.encoder.block = layers
        self.encoder.config.num_layers = len(layers)

    def set_soft_prompt(self, prompt: torch.Tensor | None) -> None:
        self.soft_prompt = None if prompt is None else nn.Parameter(prompt, requires_grad=prompt.requires_grad)

    def embed(self, batch):
        hidden, mask = self.encoder.embed_tokens(batch.input_ids), batch.attention_mask
        if self.soft_prompt is None:
            return hidden, mask
        prompt = self.soft_prompt.unsqueeze(0).expand(hidden.shape[0], -1, -1).to(hidden.dtype)
        attended = torch.ones(mask.shape[0], prompt.shape[1], dtype=mask.dtype, device=mask.device)
        return torch.cat([prompt, hidden], dim=1), torch.cat([attended, mask], dim=1)

    def run_layers(self, hidden, mask, start, end):
        from transformers.masking_utils import create_bidirectional_mask

        attention = create_bidirectional_mask(config=self.encoder.config, inputs_embeds=hidden, attention_mask=mask)
        # Only block 0 owns the relative position bias; every later block reuses it. A block run on
        # its own must be handed that bias, or it attends without positions.
        length = hidden.shape[1]
        bias = self.layers[0].layer[0].SelfAttention.compute_bias(length, length, device=hidden.device)
        for block in self.layers[start:end]:
            hidden = block(hidden, attention, bias)[0]
        return hidden

    def _decode_first_step(self, encoded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        start_id = self.model.generation_config.decoder_start_token_id
        if start_id is None:  # T5 starts decoding from its pad token (random-init configurations leave this unset)
            start_id = self.model.config.pad_token_id
        start = torch.full((encoded.shape[0], 1), start_id, dtype=torch.long, device=encoded.device)
        return self.model.get_decoder()(
            input_ids=start, encoder_hidden_states=encoded, encoder_attention_mask=mask,
        ).last_hidden_state[:, 0]

    def answer_states(self, hidden, mask, positions):
        decoded = self._decode_first_step(self.encoder.final_layer_norm(hidden), mask)
        return decoded.unsqueeze(1).expand(-1, positions.shape[1], -1)

    def label_logits(self, answer, label_token_ids):
        if self.model.config.scale_decoder_outputs:
            answer = answer * self.model.config.d_model ** -0.5
        return answer @ label_word_rows(self.model.lm_head, label_token_ids).T

    def forward_full(self, batch):
        hidden, mask = self.embed(batch)
        encoded = self.encoder(inputs_embeds=hidden, attention_mask=mask).last_hidden_state
        return self._decode_first_step(encoded, mask)


_SPLITS = {cls.family: cls for cls in (EncoderSplit, DecoderSplit, EncoderDecoderSplit)}


def stage_backbone(loaded: LoadedBackbone) -> StagedBackbone:
    return _SPLITS[loaded.spec.family](loaded)
