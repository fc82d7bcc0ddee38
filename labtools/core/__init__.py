"""The pure core: load and validate files, merge variables, render templates, build the plan.

Nothing here starts a process or writes a file; the effects live in ``labtools.effects``.
"""
