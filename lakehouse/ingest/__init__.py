"""Loading: the source files into bronze Delta tables, the quarantine, and the K-copies scale-up."""
