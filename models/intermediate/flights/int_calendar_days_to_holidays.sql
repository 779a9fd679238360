{#-
    For each flight date: how many days away the nearest US federal holiday is, before or after it (0 on the
    day). Holidays are published years ahead, so a flight may know them; the rules give the dates of the
    years before, of and after each flight date, so a date in early January sees the Christmas before it.
-#}

with

flights as (

    select * from {{ ref('stg_nycflights__flights') }}

),

holiday_rules as (

    select * from {{ ref('stg_calendar__us_federal_holidays') }}

),

flight_dates as (

    select distinct flight_date from flights

),

flight_years as (

    select distinct year(flight_date) as flight_year from flight_dates

),

-- Each flight year with the years either side (a year next to two flight years comes twice: harmless for min).
holiday_years as (

    select explode(sequence(flight_year - 1, flight_year + 1)) as holiday_year from flight_years

),

holiday_months as (

    select
        holiday_rules.*,
        make_date(holiday_years.holiday_year, holiday_rules.month_of_year, 1) as month_start_date

    from holiday_rules
    cross join holiday_years

),

holidays as (

    select
        case
            when day_of_month is not null
                then date_add(month_start_date, day_of_month - 1)
            when week_of_month = -1
                then date_sub(last_day(month_start_date), pmod(dayofweek(last_day(month_start_date)) - day_of_week, 7))
            else date_add(
                    month_start_date, pmod(day_of_week - dayofweek(month_start_date), 7) + (week_of_month - 1) * 7
                )
        end as holiday_date

    from holiday_months

),

-- The holidays (a few hundred rows) go to every task, the dates stream past them. Spark drops the distinct
-- above, as min() is the same without it, so the dates here can be every staged flight's: 10M rows at K=30,
-- which it would otherwise broadcast when a filter on them (flight_features' changed days) hides their size.
final as (

    select /*+ broadcast(holidays) */
        flight_dates.flight_date,
        min(abs(datediff(flight_dates.flight_date, holidays.holiday_date))) as days_to_nearest_holiday

    from flight_dates
    cross join holidays
    group by flight_dates.flight_date

)

select * from final
