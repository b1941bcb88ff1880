"""Long-lived pykka actors, one module each."""
