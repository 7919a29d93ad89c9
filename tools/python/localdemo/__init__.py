"""`make demo`: the whole system on this machine, on real pods where it can run them (localdemo.main)."""
