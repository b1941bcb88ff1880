"""Security scoring: Numba metric kernels, scorer groups with explanations, sell scoring."""
