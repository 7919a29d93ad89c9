"""What a child object of a stack is: the kinds table, its labels, the operator's stamps, and ownership.

The rules that recognise the operator's own objects and keep it from taking or deleting others'.
"""
