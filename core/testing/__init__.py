"""Helpers for any app's tests; never imported by the running site."""
