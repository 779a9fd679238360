{#-
    The files of a bronze table whose last load stopped between its bronze and its quarantine commit (the load log,
    source loads, says `started` with no `finished` after it): the two tables are out of step until
    `lakehouse ingest` loads the file again.
-#}
{% test every_load_finished(model) %}

with steps as (

    select
        _source_file,
        step,
        _batch_id,
        row_number() over (partition by _source_file order by _loaded_at desc) as recency
    from {{ source_or_empty('nycflights', 'loads') }}
    where source_table = '{{ model.identifier }}'

)

select
    _source_file,
    _batch_id,
    'interrupted between its bronze and quarantine commits: run lakehouse ingest again' as problem
from steps
where recency = 1 and step = 'started'

{% endtest %}
