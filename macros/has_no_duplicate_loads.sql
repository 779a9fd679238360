{#-
    True when a bronze table's loader proved that it holds each natural key once (lakehouse/ingest/duplicate_free.py
    records the Delta version it checked as a table property), no commit since then changed its data (only
    property changes, OPTIMIZE and VACUUM, which keep the rows), and the stream has written nothing to the event
    table of the same kind (`stream_relation`), whose rows could repeat it. Staging then skips its
    deduplication. False at parse time and in unit tests, which bring rows of their own, and whenever in doubt.
-#}
{% macro has_no_duplicate_loads(relation, stream_relation) -%}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        {{ return(false) }}
    {%- endif -%}
    {#- Before the first build creates it (on-run-start), as in `dbt compile`, the event table holds nothing. -#}
    {%- set streams = relation_exists(stream_relation) -%}
    {%- if streams and run_query('select 1 from ' ~ stream_relation ~ ' limit 1').rows | length > 0 -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set keeps_rows = ['SET TBLPROPERTIES', 'UNSET TBLPROPERTIES', 'OPTIMIZE', 'VACUUM START', 'VACUUM END'] -%}
    {%- set properties = run_query('show tblproperties ' ~ relation) -%}
    {%- set vouched = [] -%}
    {%- for row in properties.rows if row[0] == 'lakehouse.duplicate_free_version' -%}
        {%- do vouched.append(row[1] | int) -%}
    {%- endfor -%}
    {%- if not vouched -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set history = run_query('describe history ' ~ relation ~ ' limit 100') -%}
    {%- set versions = history.columns['version'].values() | list -%}
    {%- if vouched[0] not in versions -%}
        {{ return(false) }}
    {%- endif -%}
    {%- for row in history.rows if row['version'] > vouched[0] and row['operation'] not in keeps_rows -%}
        {{ return(false) }}
    {%- endfor -%}
    {{ return(true) }}
{%- endmacro %}
