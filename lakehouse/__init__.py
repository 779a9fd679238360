"""Python glue for the nycflights13 lakehouse: what SQL cannot do (loading, the Spark session, reports)."""
