{#- The label and the history features share one definition of "delayed". -#}
{% macro is_delayed(departure_delay_minutes) -%}
    ({{ departure_delay_minutes }} > {{ var('delay_threshold_minutes') }})
{%- endmacro %}
