{#-
    Every build starts by creating the bronze tables that are still missing (dbt_project.yml, on-run-start), empty,
    with the columns and types the nycflights source's yml declares, so that staging always reads all of them: a
    project that only streams has no CSV tables, one that only loads CSVs has no event tables. Each is created
    at its conventional folder in the warehouse and registered there, which is where `lakehouse stream` (which
    runs without the metastore, so that dbt can run beside it) writes by path; a folder that a loader already
    filled is registered as it is. lakehouse/ingest/bronze_tables.py writes the same DDL from the same yml.
    On K copies (var copies), `lakehouse scale` writes the CSV tables, so only the event tables are created.
-#}
{% macro create_missing_bronze_tables() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- for node in graph.sources.values() if node.source_name == 'nycflights' and node.package_name == project_name -%}
        {%- set written_by = node.meta.get('written_by') -%}
        {%- if written_by and (written_by == 'lakehouse stream' or not var('copies')) -%}
            {%- set existing = adapter.get_relation(node.database, node.schema, node.identifier) -%}
            {%- if existing is none -%}
                {%- do run_query('create schema if not exists ' ~ node.schema) -%}
                {%- call statement('create_bronze_table') -%}
                    create table if not exists {{ node.schema }}.{{ node.identifier }} (
                        {{ bronze_table_columns(node) | join(',\n') }}
                    ) using delta
                    {%- if node.meta.get('partitioned_by') %}
                    partitioned by ({{ node.meta['partitioned_by'] | join(', ') }})
                    {%- endif %}
                    location '{{ schema_location(node.schema) }}/{{ node.identifier }}'
                {%- endcall -%}
                {#- Known to this run from now on: dbt listed the relations before this hook ran, and would
                    otherwise take the new table for missing. -#}
                {%- do adapter.cache_added(api.Relation.create(
                    database=node.database, schema=node.schema, identifier=node.identifier, type='table'
                )) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}


{#- `name type` of a bronze table's columns: an event table's payload (the table it is a feed of) first. -#}
{% macro bronze_table_columns(node) -%}
    {%- set columns = [] -%}
    {%- if node.meta.get('payload_of') -%}
        {%- set payload = graph.sources['source.' ~ project_name ~ '.nycflights.' ~ node.meta['payload_of']] -%}
        {%- for column in payload.columns.values() if not column.name.startswith('_') -%}
            {%- do columns.append(column.name ~ ' ' ~ column.data_type) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- for column in node.columns.values() -%}
        {%- do columns.append(column.name ~ ' ' ~ column.data_type) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}


{#- The folder of a schema in the warehouse, as the metastore has it. -#}
{% macro schema_location(schema) -%}
    {%- for row in run_query('describe schema ' ~ schema).rows if row[0] == 'Location' -%}
        {{ return(row[1]) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error('the metastore gives no location for schema ' ~ schema) }}
{%- endmacro %}
