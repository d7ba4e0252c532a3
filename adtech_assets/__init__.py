"""adtech-assets: PostgreSQL -> ClickHouse ad-tech KPIs as Dagster software-defined assets."""

import warnings

# We use some of Dagster's beta and preview APIs on purpose (observable source assets, backfill
# policies, pools, ...); each use would print a BetaWarning in every process that loads the code
# location (the UI's code server, the daemon, each run, `dagster asset materialize`), dozens per
# start. Silenced here, before any module of the package applies a decorator, and only those two
# categories: deprecations and Dagster's other warnings still show. dagster_shared defines the
# classes that `dagster.BetaWarning` / `dagster.PreviewWarning` re-export (a light import).
from dagster_shared.utils.warnings import BetaWarning, PreviewWarning

warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)
