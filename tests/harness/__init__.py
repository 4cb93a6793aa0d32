"""The verification harness: registry, samplers, oracles, comparison and checks."""
