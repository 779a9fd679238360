{#-
    True for dates up to the end of `features_through_month` ('YYYY-MM'), or for every date when it is unset.
    Setting it lets flight_features be built month by month, e.g. --vars '{features_through_month: "2013-03"}'.
-#}
{% macro is_within_feature_months(date_expression) -%}
    {%- set through_month = var('features_through_month', none) -%}
    {%- if through_month -%}
        {{ date_expression }} < add_months(to_date('{{ through_month }}-01'), 1)
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
