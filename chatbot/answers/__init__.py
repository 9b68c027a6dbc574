"""Checking a generated answer against its sources before any customer reads it."""
