"""The effects: the only code that starts processes (``process``), runs a plan (``runner``) and
makes run directories (``rundir``)."""
