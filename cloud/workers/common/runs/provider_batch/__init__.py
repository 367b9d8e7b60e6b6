"""`batch.py --via provider-batch`: probe jobs through the providers' own batch APIs, in waves, surviving restarts."""
