"""Forms of the sharing pages, one module per concept."""
