{#-
    Layers land in schemas named for the layer (staging, intermediate, features), not target_layer. Built on
    K copies of the bronze year (`--vars '{copies: K}'`, after `lakehouse scale --copies K`), every model's schema
    gets the suffix _x<K> (staging_x30), so a scaled build sits beside the year's instead of replacing it.
    Seeds are the same dimensions at every scale and keep their schema. The Python side has no copy of this
    rule: it reads each relation's name from the manifest (lakehouse/project.py). The sources' yml repeats it for
    their schemas (raw, ml), as a yml property cannot call a macro.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set schema = custom_schema_name | trim if custom_schema_name else target.schema -%}
    {%- set copies = var('copies', none) -%}
    {{ schema ~ '_x' ~ copies if copies and node.resource_type != 'seed' else schema }}
{%- endmacro %}
