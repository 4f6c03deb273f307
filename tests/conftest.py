"""Each test process samples with the process settings ``dgep run`` uses (``bayes.prepare_process``:
one JAX host device per core, the persistent compilation cache), set before any test runs."""

import bayes

bayes.prepare_process()
