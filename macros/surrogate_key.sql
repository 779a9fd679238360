{#-
    A deterministic key from a list of columns (null-safe), like dbt_utils.generate_surrogate_key, but as a
    bigint: the first 64 bits of the md5 of the parts, read as a signed integer. Eight bytes instead of a
    32-character string in every shuffle, sort and join that carries it; any engine with md5 can compute it.
    Two of 100 million flights share a key with a chance of about 3 in 10,000, and the unique tests would say so.
-#}
{% macro surrogate_key(columns) -%}
    cast(conv(substr(md5(concat_ws('|'
        {%- for column in columns %}, coalesce(cast({{ column }} as string), '<null>'){% endfor -%}
    )), 1, 16), 16, -10) as bigint)
{%- endmacro %}
