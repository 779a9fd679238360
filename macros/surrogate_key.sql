{#- A deterministic key from a list of columns (null-safe), like dbt_utils.generate_surrogate_key. -#}
{% macro surrogate_key(columns) -%}
    md5(concat_ws('|'
        {%- for column in columns %}, coalesce(cast({{ column }} as string), '<null>'){% endfor -%}
    ))
{%- endmacro %}
