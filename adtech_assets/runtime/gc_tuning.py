"""The garbage collector's settings in adtech's processes: the ``adtech`` command, the code
location's processes (run workers, the UI's code server, ``dagster asset materialize``) and the
test workers.

Their objects are mostly modules kept to the end (Dagster's thousands): the default thresholds
walk them again and again, a noticeable share of a loading sync's CPU.
Young collections come less often, and what the imports made is frozen once they are done.
"""

import gc

THRESHOLDS = (20_000, 20, 20)


def collect_less() -> None:
    """Collect the young generation less often; call first thing."""
    gc.set_threshold(*THRESHOLDS)


def freeze_imports() -> None:
    """Leave what exists now (the imported modules and definitions) out of later collections."""
    gc.freeze()
