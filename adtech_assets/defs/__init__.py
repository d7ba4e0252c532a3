"""Dagster declarations: assets, checks, jobs, sensors, schedules and resources as Dagster config.

We use some of Dagster's beta and preview APIs on purpose (observable source assets, backfill
policies, pools, ...); each use would print a BetaWarning in every process that loads the code
location, dozens per start. Silenced here, before any module of this package applies a
decorator, and only those two categories: deprecations and Dagster's other warnings still show,
but for one that Dagster raises against itself (it reads its own deprecated
``OpDefinition.version`` for every observable source asset) and that no code of ours can avoid.
"""

import warnings

from dagster import BetaWarning, PreviewWarning

warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)
warnings.filterwarnings("ignore", message="Property `OpDefinition.version` is deprecated", category=DeprecationWarning)
