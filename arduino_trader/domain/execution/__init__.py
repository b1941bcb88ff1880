"""Order execution rules: the safety pipeline, costs and order construction (pure)."""
