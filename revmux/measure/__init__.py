"""Trackers for latency, memory and energy that know nothing of RevMUX.

Each tracker takes plain callables and a device, and returns plain dictionaries in seconds, bytes
and joules. A value that cannot be measured on this machine is None, with the reason beside it
under `unavailable`; it is never 0.
"""
