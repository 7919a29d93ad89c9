"""What a child object of a stack is, and the rules that recognise the operator's own objects and keep it from
taking or deleting others': the kinds table, its labels, the operator's stamps (and its identity, the field
manager and user agent every client it makes carries) and ownership; pure, standing on `config` and `kube`'s
data types.
"""
