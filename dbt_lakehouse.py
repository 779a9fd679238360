"""dbt-core finds plugins in top-level modules named `dbt_*`; this one is lakehouse/dbt_plugin.py."""

from lakehouse.dbt_plugin import MetastoreGuard

plugins = [MetastoreGuard]
