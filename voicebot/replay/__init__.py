"""Testers' tools: scenarios, the simulated caller, offline replay and reports."""
