"""Request workloads shared by the tracks that serve requests: seeded traces of prompts, output lengths and
arrival times, written once and replayed by every system."""
