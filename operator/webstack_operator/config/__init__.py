"""The operator's settings: what the builders read (images, namespaces, capabilities) and what `run` takes,
read once and passed down; it stands on no floor of the operator (only the shared `webstack_contract`).
"""
