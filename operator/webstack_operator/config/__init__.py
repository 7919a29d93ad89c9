"""The operator's settings: what the builders read (images, namespaces, capabilities) and what `run` takes."""
