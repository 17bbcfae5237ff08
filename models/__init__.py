"""Typed data shared by workflows, activities, persistence and the CLI."""
