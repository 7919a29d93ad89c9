"""The command line, the top floor (it may import any other): `webstack-operator` and the kubectl plugin
`kubectl webstack` (plan, status).
"""
