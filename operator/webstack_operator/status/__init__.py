"""Pure status computation: what the children say, turned into a WebStack's status and conditions."""
