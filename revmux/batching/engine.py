"""A left-padded running batch over a Hugging Face causal LM and its KV cache, and the operations every
scheduler is made of: prefill, decode, a joint prefill+decode pass, splice and row removal.

Layout (shared by every scheduler, so they differ only in scheduling): cache column j of every layer
holds the keys/values of mask column j; rows are left-padded, so each row's newest token is in the last
column. Position ids come from the mask (`cumsum - 1`), which keeps a row's positions right wherever its
keys sit in the cache. Decoding is greedy; EOS is not consulted (output lengths are fixed per request).

Token-slot accounting: `executed` counts every (row, query position) a forward pass computes, `useful`
only those that advance a request (a real prompt token, or the newest token of an unfinished row); the
difference is padding and idle work. Key/value slots are counted the same way one level down, per (row,
query, key column) of the attention product, since a padded batch's queries attend over padded columns
too. Splices and row removals copy the cache: their time and the bytes they write are counted. So is the
DynamicCache's own growth: every pass concatenates its new columns onto each layer's keys and values
(`torch.cat` in transformers' `DynamicLayer.update`), writing the whole cache again, which an engine
writing into preallocated buffers (`orca`) does not pay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache

from revmux.workloads.traces import Request


@dataclass
class Counters:
    forward_passes: int = 0
    executed_slots: int = 0
    useful_slots: int = 0
    splices: int = 0
    splice_s: float = 0.0  # copying caches: splices, row removals, compaction
    prefill_passes: int = 0
    # Key/value slots, summed over passes: `executed` every (row, query position, key column) triple the
    # attention product spans; `useful` those whose query is a real token of an unfinished request and whose
    # key is a real token of the same request. Padding, held finished rows and other requests' keys are waste;
    # the causal mask inside one request is not (every system pays it alike).
    executed_kv_slots: int = 0
    useful_kv_slots: int = 0
    # Key/value bytes written by splices, row removals and re-layouts (padding zeros included).
    copied_bytes: int = 0
    # Key/value bytes the DynamicCache writes as it grows: each pass concatenates its new columns onto every
    # layer's keys and values, so it writes the whole cache after the pass (padding included). Systems on
    # preallocated buffers (`orca`) write only the new keys in place and count none.
    cache_growth_bytes: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Row:
    """One request while it is served."""
    request: Request
    tokens: list[int] = field(default_factory=list)
    admitted_s: float | None = None  # when the scheduler took it in (its prefill started)
    first_token_s: float | None = None
    finished_s: float | None = None  # when its last token was generated
    returned_s: float | None = None  # when it was handed back (later than finished_s in static batching)

    @property
    def done(self) -> bool:
        return len(self.tokens) >= self.request.output_tokens


@dataclass
class PaddedBatch:
    rows: list[Row]
    cache: DynamicCache
    mask: torch.Tensor  # (B, T) 1 = real key; left-padded
    last: torch.Tensor  # (B,) each row's newest token: the next step's input

    def __len__(self) -> int:
        return len(self.rows)


def positions_from(mask: torch.Tensor, query: int) -> torch.Tensor:
    return (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)[:, -query:]


def _layers(cache: DynamicCache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(layer.keys, layer.values) for layer in cache.layers]


def _nbytes(layers: list[tuple[torch.Tensor, torch.Tensor]]) -> int:
    return sum(k.nbytes + v.nbytes for k, v in layers)


def _stack_left_padded(parts: list[torch.Tensor], width: int, dim: int) -> torch.Tensor:
    """`parts` stacked along dim 0 in one new tensor, each left-padded with zeros to `width` along `dim`:
    every byte of the result is written once (the padding as zeros, the rest copied from its part)."""
    shape = list(parts[0].shape)
    shape[0], shape[dim] = sum(part.shape[0] for part in parts), width
    stacked = parts[0].new_empty(shape)
    start = 0
    for part in parts:
        rows, missing = stacked[start:start + part.shape[0]], width - part.shape[dim]
        rows.narrow(dim, 0, missing).zero_()
        rows.narrow(dim, missing, part.shape[dim]).copy_(part)
        start += part.shape[0]
    return stacked


class Engine:
    """The model, its pad token, a clock and the counters; every forward pass goes through here."""

    def __init__(self, model, pad_token_id: int = 0):
        self.model = model
        self.device = next(model.parameters()).device
        self.pad = pad_token_id
        self.counters = Counters()
        self.start = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self.start

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, cache: DynamicCache,
                 active: list[bool]) -> tuple[torch.Tensor, DynamicCache]:
        """Greedy next tokens at the last column, and the cache (extended in place by the pass). `mask`
        covers every key of the pass (the cache's and the new ones); `active` says which rows advance a
        request (a finished row held in its batch does not)."""
        with torch.no_grad():
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions_from(mask, ids.shape[1]),
                             past_key_values=cache, use_cache=True, logits_to_keep=1)
        counters = self.counters
        counters.forward_passes += 1
        counters.executed_slots += ids.numel()
        counters.executed_kv_slots += ids.numel() * mask.shape[1]
        # Counted after the pass is queued: reading the counts waits for the device, as the tokens do anyway.
        queries = mask[:, -ids.shape[1]:].sum(1) * torch.tensor(active, device=mask.device)
        counters.useful_slots += int(queries.sum())
        counters.useful_kv_slots += int((queries * mask.sum(1)).sum())
        counters.cache_growth_bytes += _nbytes(_layers(out.past_key_values))
        return out.logits[:, -1].argmax(-1), out.past_key_values

    def _cache(self, layers: list[tuple[torch.Tensor, torch.Tensor]]) -> DynamicCache:
        """A DynamicCache holding `layers` as they are. Every caller passes freshly built tensors (a splice's
        or removal's one copy, counted where it is made), so the cache takes them without another copy:
        filling it through `DynamicCache(ddp_cache_data=...)` would concatenate each onto an empty tensor,
        writing every byte a second time, which no serving engine pays."""
        cache = DynamicCache(config=self.model.config)
        for layer, (keys, values) in zip(cache.layers, layers):
            layer.lazy_initialization(keys, values)
            layer.keys, layer.values = keys, values
        return cache

    def _padded_prompts(self, rows: list[Row]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(row.request.prompt_ids) for row in rows)
        ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for k, row in enumerate(rows):
            prompt = row.request.prompt_ids
            ids[k, width - len(prompt):] = torch.tensor(prompt)
            mask[k, width - len(prompt):] = 1
        return ids.to(self.device), mask.to(self.device)

    def _record(self, rows: list[Row], tokens: torch.Tensor, active: list[bool]) -> None:
        now = self.now()
        for row, token, live in zip(rows, tokens.tolist(), active):
            if not live:
                continue
            row.tokens.append(token)
            if row.first_token_s is None:
                row.first_token_s = now
            if row.done:
                row.finished_s = now

    def prefill(self, rows: list[Row]) -> PaddedBatch:
        """The rows' prompts in one left-padded pass; each row gets its first token."""
        now = self.now()
        for row in rows:
            row.admitted_s = now if row.admitted_s is None else row.admitted_s
        ids, mask = self._padded_prompts(rows)
        tokens, cache = self._forward(ids, mask, DynamicCache(config=self.model.config), [True] * len(rows))
        self.counters.prefill_passes += 1
        batch = PaddedBatch(rows, cache, mask, tokens)
        self._record(rows, tokens, [True] * len(rows))
        return batch

    def decode(self, batch: PaddedBatch) -> None:
        """One token for every row; rows already done (held in a static batch) compute but record nothing."""
        active = [not row.done for row in batch.rows]
        batch.mask = torch.cat([batch.mask, batch.mask.new_ones(len(batch), 1)], dim=1)
        tokens, batch.cache = self._forward(batch.last.unsqueeze(1), batch.mask, batch.cache, active)
        batch.last = tokens
        self._record(batch.rows, tokens, active)

    def joint_step(self, batch: PaddedBatch | None, newcomers: list[Row], compact: bool) -> PaddedBatch:
        """Iteration-level admission: the newcomers' prefill and the running rows' decode in one pass.

        The query dimension is the longest newcomer prompt: each running row's one real token is
        left-padded to it, and every newcomer's cache is left-padded with the running rows' past. Without
        `compact`, the running rows keep the padded query columns in their cache (masked) for the rest of
        their life, as a padded iteration-level implementation does; with `compact` (BATON's shaping
        without separate prefill) the pass's result is re-laid out as if the newcomers had been prefilled
        apart and spliced in."""
        if batch is None or not len(batch):
            return self.prefill(newcomers)
        now = self.now()
        for row in newcomers:
            row.admitted_s = now
        prompt_ids, prompt_mask = self._padded_prompts(newcomers)
        width, past = prompt_ids.shape[1], batch.mask.shape[1]
        running, joining = len(batch), len(newcomers)
        running_ids = torch.full((running, width), self.pad, dtype=torch.long, device=self.device)
        running_ids[:, -1] = batch.last
        running_query_mask = torch.zeros((running, width), dtype=torch.long, device=self.device)
        running_query_mask[:, -1] = 1
        ids = torch.cat([running_ids, prompt_ids])
        mask = torch.cat([
            torch.cat([batch.mask, running_query_mask], dim=1),
            torch.cat([prompt_mask.new_zeros(joining, past), prompt_mask], dim=1),
        ])
        started = time.perf_counter()
        # The newcomers have nothing cached yet: their rows of the past are all padding.
        layers = [tuple(_stack_left_padded([t, t.new_empty(joining, t.shape[1], 0, t.shape[3])], past, 2) for t in kv)
                  for kv in _layers(batch.cache)]
        self.counters.copied_bytes += _nbytes(layers)
        joint_input = self._cache(layers)
        self.counters.splice_s += time.perf_counter() - started
        active = [not row.done for row in batch.rows] + [True] * joining
        tokens, joint_cache = self._forward(ids, mask, joint_input, active)
        self.counters.prefill_passes += 1
        rows = batch.rows + newcomers
        self._record(rows, tokens, active)
        if not compact:
            return PaddedBatch(rows, joint_cache, mask, tokens)
        started = time.perf_counter()
        keep_running = list(range(past)) + [past + width - 1]
        joint = _layers(joint_cache)
        # Indexing the columns with a list copies the running rows' keys; the newcomers' stay a view (no copy).
        kept = [(k[:running, :, keep_running], v[:running, :, keep_running]) for k, v in joint]
        self.counters.copied_bytes += _nbytes(kept)
        old = PaddedBatch(batch.rows, self._cache(kept), mask[:running, keep_running], tokens[:running])
        new = PaddedBatch(newcomers, self._cache([(k[running:, :, past:], v[running:, :, past:]) for k, v in joint]),
                          prompt_mask, tokens[running:])
        self.counters.splice_s += time.perf_counter() - started
        return self.splice(old, new)

    def splice(self, batch: PaddedBatch | None, newcomers: PaddedBatch) -> PaddedBatch:
        """One batch from two: the shorter side left-padded along the cache, then stacked (BATON's KV
        embedding; TGI's `concatenate`)."""
        if batch is None or not len(batch):
            return newcomers
        started = time.perf_counter()
        width = max(batch.mask.shape[1], newcomers.mask.shape[1])
        layers = [(_stack_left_padded([k1, k2], width, 2), _stack_left_padded([v1, v2], width, 2))
                  for (k1, v1), (k2, v2) in zip(_layers(batch.cache), _layers(newcomers.cache))]
        self.counters.copied_bytes += _nbytes(layers)
        merged = PaddedBatch(batch.rows + newcomers.rows, self._cache(layers),
                             _stack_left_padded([batch.mask, newcomers.mask], width, 1),
                             torch.cat([batch.last, newcomers.last]))
        self.counters.splices += 1
        self.counters.splice_s += time.perf_counter() - started
        return merged

    def keep(self, batch: PaddedBatch, keep: list[int]) -> PaddedBatch | None:
        """Only rows `keep`; mask columns that no kept row uses any more are cut from the left."""
        if not keep:
            return None
        if len(keep) == len(batch):
            return batch
        started = time.perf_counter()
        index = torch.tensor(keep, device=self.device)
        mask = batch.mask[index]
        used = torch.nonzero(mask.any(dim=0))
        first = int(used[0]) if len(used) else 0
        # Indexing the rows with a tensor copies the kept rows' columns from `first` on.
        layers = [(k[index, :, first:], v[index, :, first:]) for k, v in _layers(batch.cache)]
        self.counters.copied_bytes += _nbytes(layers)
        kept = PaddedBatch([batch.rows[i] for i in keep], self._cache(layers), mask[:, first:], batch.last[index])
        self.counters.splice_s += time.perf_counter() - started
        return kept
