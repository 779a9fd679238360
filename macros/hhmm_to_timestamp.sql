{#-
    The instant of a clock time written as an HHMM integer (517 = 05:17, 2400 = midnight ending the day) on a
    date, read as wall-clock time in `timezone`. Missing or impossible clock times (minute 60+, past 2400) give
    null. The wall-clock time is built first, so 2400 rolls over to the next day even across a DST change.
-#}
{% macro hhmm_to_timestamp(date_expression, hhmm_expression, timezone=var('source_timezone')) -%}
    {%- set wall_clock -%}
        (cast({{ date_expression }} as timestamp_ntz)
            + make_dt_interval(0, {{ hhmm_expression }} div 100, {{ hhmm_expression }} % 100, 0))
    {%- endset -%}
    case
        when {{ hhmm_expression }} between 0 and 2400 and {{ hhmm_expression }} % 100 < 60
            then make_timestamp(
                year({{ wall_clock }}),
                month({{ wall_clock }}),
                day({{ wall_clock }}),
                hour({{ wall_clock }}),
                minute({{ wall_clock }}),
                0,
                '{{ timezone }}'
            )
    end
{%- endmacro %}
