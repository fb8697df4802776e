"""netconfig package."""
