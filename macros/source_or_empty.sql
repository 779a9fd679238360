{#-
    A source that another program writes and that may not exist yet (ml.predictions before the first
    `python ml/score.py`): the source relation when it exists, else an empty select of the columns its yml
    declares, with their data_type. So a first `dbt build` builds the monitoring models empty instead of failing,
    and the lineage still runs through the source.
-#}
{% macro source_or_empty(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if execute and not relation_exists(relation) -%}
        {%- set node = graph.sources['source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name] -%}
        (
            select
                {%- for column in node.columns.values() %}
                cast(null as {{ column.data_type }}) as {{ column.name }}{{ ',' if not loop.last }}
                {%- endfor %}
            where false
        )
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}


{#- Whether the catalog holds the relation now (sources written outside dbt may not exist yet). -#}
{% macro relation_exists(relation) -%}
    {{ return(adapter.get_relation(relation.database, relation.schema, relation.identifier) is not none) }}
{%- endmacro %}
