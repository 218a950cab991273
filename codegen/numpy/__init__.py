"""The NumPy target: printer.py (one rule per IR operation), writer.py (the
module around the steps), probe.py (what `--with-check` adds of the model),
and the runtime its modules carry as text (runtime.py, helpers.py)."""
