"""Pipelines: jobs composed into long videos, storyboards, remix chains, variations and batches."""
