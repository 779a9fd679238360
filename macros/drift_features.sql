{#-
    The flight_features columns the model reads whose drift means something, as [name, role] pairs (role
    categorical or numeric), in the yml's order: the same meta `role` that lakehouse/ml/features.py reads, so a
    feature added there is monitored here too; those with meta `drift: by_date` are left out. The graph is known
    only when dbt executes; at parse time the list is empty.
-#}
{% macro drift_features() -%}
    {%- set features = [] -%}
    {%- if execute -%}
        {%- set flight_features = graph.nodes['model.' ~ project_name ~ '.flight_features'] -%}
        {%- for column in flight_features.columns.values() -%}
            {%- set meta = {} -%}
            {%- do meta.update(column.get('meta') or {}) -%}
            {%- do meta.update((column.get('config') or {}).get('meta') or {}) -%}
            {%- if meta.get('role') in ['categorical', 'numeric'] and meta.get('drift') != 'by_date' -%}
                {%- do features.append([column.name, meta['role']]) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(features) }}
{%- endmacro %}


{#-
    A flight's bin of a drift feature: a categorical's value; for a numeric, `decile k`, k the number of the
    reference deciles (an array of 9 edges) at or below its value, as a sum of comparisons, which Spark compiles
    (a lambda over the array it does not); null is a bin of its own.
-#}
{% macro drift_bin(column, role, deciles) -%}
    {%- if role == 'categorical' -%}
        coalesce({{ column }}, '(null)')
    {%- else -%}
        if({{ column }} is null, '(null)', concat('decile ',
        {%- for edge in range(9) %} cast({{ column }} >= {{ deciles }}[{{ edge }}] as int)
        {{- ' +' if not loop.last }}{% endfor %}))
    {%- endif -%}
{%- endmacro %}
