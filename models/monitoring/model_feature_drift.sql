{#-
    The population stability index of the features the model reads (the categoricals and numerics of
    flight_features' yml but those the date decides, macros/drift_features.sql), per model version and day: the
    flights it scored in the `drift_window_days` days through that day against the flights it learned from, as
    the sum over bins of (scored share - reference share) * ln(scored share / reference share). A window, not
    the day alone: one day has one day of the week and a few hours of weather, unlike any training month. Bins: a
    categorical's values, a numeric's deciles over the reference flights, and null, a bin of its own. A share
    below `drift_share_floor` counts as that floor, so a bin one side lacks adds a large but finite term.
-#}
{%- set features = drift_features() -%}
{%- set floor = var('drift_share_floor') -%}

with

flights as (

    select * from {{ ref('flight_features') }}

),

model_versions as (

    select * from {{ ref('stg_ml__model_versions') }}

),

outcomes as (

    select * from {{ ref('int_predictions_joined_outcomes') }}

),

scored_days as (

    select distinct
        model_version,
        flight_date as scored_date

    from outcomes

),

populations as (

    -- Each version's reference flights, those it learned from (scored_date null), then the flights it scored,
    -- on their day.
    select
        model_versions.model_version,
        flights.*,
        cast(null as date) as scored_date

    from flights
    inner join model_versions
        on flights.flight_date < model_versions.test_from_date

    union all

    select
        outcomes.model_version,
        flights.*,
        outcomes.flight_date as scored_date

    from outcomes
    inner join flights
        on outcomes.flight_id = flights.flight_id

),

reference_deciles as (

    -- Each numeric's deciles over the version's reference flights: the edges of its bins on both sides.
    -- (LT02 off: sqlfluff cannot place the lines of a loop in a select list.)
    select  -- noqa: disable=LT02
        model_version,
        {% for name, role in features if role == 'numeric' -%}
            percentile({{ name }}, array(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)) as {{ name }}_deciles
            {{- ',' if not loop.last }}
        {% endfor -%}

    from populations  -- noqa: enable=LT02
    where scored_date is null
    group by model_version

),

binned as (

    -- One row per flight and feature, with its bin (macros/drift_features.sql).
    select
        populations.model_version,
        populations.scored_date,
        stack(
            {{ features | length }},
            {% for name, role in features -%}
                '{{ name }}',
                '{{ role }}',
                {{ drift_bin('populations.' ~ name, role, 'reference_deciles.' ~ name ~ '_deciles') }}
                {{- ',' if not loop.last }}
            {% endfor -%}
        ) as (feature_name, feature_role, feature_bin)

    from populations
    left join reference_deciles
        on populations.model_version = reference_deciles.model_version

),

bin_counts as (

    select
        model_version,
        feature_name,
        feature_role,
        feature_bin,
        scored_date,
        count(*) as flight_count

    from binned
    group by model_version, feature_name, feature_role, feature_bin, scored_date

),

window_counts as (

    -- A scored day's counts summed over the window through it (a day's counts go to the windows that reach
    -- it); the reference's as they are.
    select
        bin_counts.model_version,
        bin_counts.feature_name,
        bin_counts.feature_role,
        bin_counts.feature_bin,
        windows.scored_date,
        sum(bin_counts.flight_count) as flight_count

    from bin_counts
    inner join scored_days as windows
        on bin_counts.model_version = windows.model_version
        and bin_counts.scored_date <= windows.scored_date
        and windows.scored_date < date_add(bin_counts.scored_date, {{ var('drift_window_days') }})
    group by
        bin_counts.model_version,
        bin_counts.feature_name,
        bin_counts.feature_role,
        bin_counts.feature_bin,
        windows.scored_date

    union all

    select * from bin_counts
    where scored_date is null

),

shares as (

    select
        model_version,
        feature_name,
        feature_role,
        feature_bin,
        scored_date,
        flight_count / sum(flight_count) over (partition by model_version, feature_name, scored_date)
            as population_share

    from window_counts

),

scored_shares as (

    select * from shares
    where scored_date is not null

),

reference_shares as (

    -- The reference's shares repeated for every day the version scored, so a bin absent on a day still counts.
    select
        shares.model_version,
        shares.feature_name,
        shares.feature_role,
        shares.feature_bin,
        shares.population_share,
        scored_days.scored_date

    from shares
    inner join scored_days
        on shares.model_version = scored_days.model_version
    where shares.scored_date is null

),

compared as (

    select
        coalesce(scored.model_version, reference.model_version) as model_version,
        coalesce(scored.feature_name, reference.feature_name) as feature_name,
        coalesce(scored.feature_role, reference.feature_role) as feature_role,
        greatest(coalesce(scored.population_share, 0), {{ floor }}) as scored_share,
        greatest(coalesce(reference.population_share, 0), {{ floor }}) as reference_share,
        coalesce(scored.scored_date, reference.scored_date) as scored_date

    from scored_shares as scored
    full outer join reference_shares as reference
        on scored.model_version = reference.model_version
        and scored.feature_name = reference.feature_name
        and scored.feature_bin = reference.feature_bin
        and scored.scored_date = reference.scored_date

),

final as (

    select
        model_version,
        feature_name,
        feature_role,
        sum((scored_share - reference_share) * ln(scored_share / reference_share)) as population_stability_index,
        sum((scored_share - reference_share) * ln(scored_share / reference_share))
        >= {{ var('drift_alert_index') }} as has_drifted,
        scored_date as flight_date

    from compared
    group by model_version, feature_name, feature_role, scored_date

)

select * from final
