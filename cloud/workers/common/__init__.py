"""Shared core of the probe workers: contract, errors, logging, config and providers."""
