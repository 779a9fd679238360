{#-
    The instant a flight's features are taken at: its scheduled departure less `prediction_lead_minutes`. Every
    history feature counts only what had happened before it, so the model can answer that long before the flight
    leaves, and the same features can be computed then from what the feed has delivered.
-#}
{% macro features_as_of(scheduled_departure_at) -%}
    ({{ scheduled_departure_at }} - make_dt_interval(0, 0, {{ var('prediction_lead_minutes') | int }}, 0))
{%- endmacro %}
