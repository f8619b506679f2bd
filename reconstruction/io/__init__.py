"""Readers and writers of projections and volumes."""
