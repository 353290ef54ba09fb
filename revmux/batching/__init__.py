"""The generation track: serving a trace of requests with one greedy decode loop and pluggable
schedulers (static, iteration-level, BATON), against transformers' own batching as anchors."""
