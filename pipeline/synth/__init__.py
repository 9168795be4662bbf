"""Synthetic Open Images V6 data at any scale: every family under its official name and format,
row counts = the V6 counts × scale, deterministic for a seed, vectorized (numpy + Arrow)."""

from pipeline.synth.run import SynthError, SynthFile, SynthReport, synthesize

__all__ = ["SynthError", "SynthFile", "SynthReport", "synthesize"]
