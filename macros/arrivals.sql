{#-
    Incremental models that take what arrived since their last build, by a load-time column that only grows
    (bronze `_loaded_at`, staging `loaded_at`): each arrival input is read through `arrived_since_last_build`,
    and the model is dbt-spark's own `incremental` materialization (merge on its key) with two hooks:

        pre_hook="{{ delete_rows_when_rebuilding_whole() }}", post_hook="{{ record_arrivals() }}"

    After a build, the model's table keeps, per arrival input, the input's Delta version and the newest load time
    it had when the build began (table property lakehouse.arrivals, written by the post-hook). The next build
    reads the rows loaded after that time. Version first, time second, both taken when the model compiles,
    before it reads: a row that lands meanwhile is read again next time, which the merge on the model's key
    absorbs, and never skipped. Each bronze table has one writer, which stamps each commit later than the one
    before (`lakehouse stream` each micro-batch, `lakehouse ingest` each load), so a row committed later is
    never stamped earlier.

    An input that changed otherwise than by adding rows since that version (a CSV load replacing a file's rows,
    a staging table whose rows were deleted) means that the model's rows can no longer be trusted: the build
    then reads every row of every input, and its pre-hook deletes the model's rows first, in the same build. A
    build killed between the two is repeated whole by the next one, since the arrivals are recorded last.
-#}
{% macro arrived_since_last_build(relation, column) -%}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        true
    {%- else -%}
        {%- do take_arrivals(relation, column) -%}
        {%- set incremental = is_incremental() and not rebuilds_whole() -%}
        {%- set recorded = recorded_arrivals(this).get(relation | string) if incremental else none -%}
        {%- if recorded is none -%}
            true
        {%- else -%}
            {{ column }} > timestamp_micros({{ recorded['through'] }})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#- The arrivals this build of the model began with, per input: {relation: {version, through}}, for the post-hook. -#}
{% macro arrivals_taken() -%}
    {{ return(graph.setdefault('lakehouse_arrivals_taken', {}).setdefault(this | string, {})) }}
{%- endmacro %}


{#- An input's Delta version and newest load time now, before the build reads it. -#}
{% macro take_arrivals(relation, column) -%}
    {%- set version = newest_commit(relation)['version'] -%}
    {%- set through = run_query('select unix_micros(max(' ~ column ~ ')) from ' ~ relation).rows[0][0] -%}
    {%- if through is not none -%}
        {%- do arrivals_taken().update({relation | string: {'version': version, 'through': through | int}}) -%}
    {%- endif -%}
{%- endmacro %}


{#- post-hook: what the build began with becomes what the next build reads after. -#}
{% macro record_arrivals() -%}
    {%- if arrivals_taken() -%}
        alter table {{ this }} set tblproperties ('lakehouse.arrivals' = '{{ tojson(arrivals_taken()) }}')
    {%- endif -%}
{%- endmacro %}


{#- pre-hook: an incremental build that must take every row starts from no rows. -#}
{% macro delete_rows_when_rebuilding_whole() -%}
    {%- if is_incremental() and rebuilds_whole() -%}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}


{#- The newest entry of a Delta table's history: its version, operation and parameters. -#}
{% macro newest_commit(relation) -%}
    {{ return(run_query('describe history ' ~ relation ~ ' limit 1').rows[0]) }}
{%- endmacro %}


{#-
    {relation: {version, through}} as the table's last build recorded them; {} when there is none. Read once a
    run: what the build records at its end is for the next run.
-#}
{% macro recorded_arrivals(relation) -%}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        {{ return({}) }}
    {%- endif -%}
    {%- set recorded = graph.setdefault('lakehouse_recorded_arrivals', {}) -%}
    {%- if (relation | string) not in recorded -%}
        {%- do recorded.update({(relation | string): {}}) -%}
        {%- if load_relation(relation) is not none -%}
            {%- for row in run_query('show tblproperties ' ~ relation).rows if row[0] == 'lakehouse.arrivals' -%}
                {%- do recorded.update({(relation | string): fromjson(row[1])}) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(recorded[relation | string]) }}
{%- endmacro %}


{#-
    Whether this incremental build must take every row: an arrival input changed by more than added rows since
    the last build. Asked by each arrival input's filter and by the pre-hook: the answer is kept for the run.
-#}
{% macro rebuilds_whole() -%}
    {%- set answers = graph.setdefault('lakehouse_rebuilds_whole', {}) -%}
    {%- if (this | string) not in answers -%}
        {%- do answers.update({(this | string): false}) -%}
        {%- for relation, recorded in recorded_arrivals(this).items() if not answers[this | string] -%}
            {%- if changed_beyond_appends(relation, recorded['version']) -%}
                {{ log(this ~ ' takes every row: ' ~ relation ~ ' changed by more than added rows', info=true) }}
                {%- do answers.update({(this | string): true}) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(answers[this | string]) }}
{%- endmacro %}


{#-
    Whether an input changed since `version` by more than added rows: any commit but an append (the stream's
    micro-batches), a merge (an incremental staging model's), or one that keeps the rows (properties, OPTIMIZE,
    VACUUM). A history that no longer reaches back to `version` counts as changed.
-#}
{% macro changed_beyond_appends(relation, version) -%}
    {%- set newest = newest_commit(relation)['version'] -%}
    {%- if newest < version -%}
        {{ return(true) }}
    {%- elif newest == version -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set keeps_rows = [
        'MERGE', 'SET TBLPROPERTIES', 'UNSET TBLPROPERTIES', 'OPTIMIZE', 'VACUUM START', 'VACUUM END',
    ] -%}
    {%- set history = run_query('describe history ' ~ relation ~ ' limit ' ~ (newest - version)) -%}
    {%- if history.rows | length < newest - version -%}
        {{ return(true) }}
    {%- endif -%}
    {%- for commit in history.rows -%}
        {%- set appended = commit['operation'] in ['WRITE', 'STREAMING UPDATE']
            and modules.re.search('mode\\W+Append', commit['operationParameters'] | string) -%}
        {%- if not appended and commit['operation'] not in keeps_rows -%}
            {{ return(true) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(false) }}
{%- endmacro %}
