"""Walk-forward parameter studies of the strategy's settings on Dask distributed."""
