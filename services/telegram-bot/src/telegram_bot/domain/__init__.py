"""The conversation's rules: pure functions and small state, nothing that reaches the world."""
