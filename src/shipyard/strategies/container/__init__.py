"""The container strategy: the image side (build, push) and the run side (on the multi engine)."""
