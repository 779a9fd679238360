{#-
    True when a bronze table's loader proved that it holds each natural key once (lakehouse/ingest/duplicate_free.py
    records the Delta version it checked as a table property) and no commit since then changed its data: only
    property changes, OPTIMIZE and VACUUM, which keep the rows. Staging then skips its deduplication. False at
    parse time and in unit tests, which bring rows of their own, and whenever in doubt.
-#}
{% macro has_no_duplicate_loads(relation) -%}
    {%- if not execute or model.resource_type == 'unit_test' -%}
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
