"""Pure builders: one WebStack (as a StackContext) in, every Kubernetes object of its stack out.

`desired_objects` is the single entry point for both the operator (which applies the list) and
`webstack-operator render` (which prints it), so what a reviewer sees offline is what gets applied.
No builder does I/O, reads a clock, draws a random number or reads a global: the same context always
gives the same objects in the same order.
"""
