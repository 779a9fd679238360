{#-
    Incremental models that take what arrived since their last build, by a load-time column that only grows
    (bronze `_loaded_at`, staging `loaded_at`): each arrival input is read through `arrived_since_last_build`.

    After a build, the model's table keeps, per arrival input, the input's Delta version and the newest load time
    it had when the build began (table property lakehouse.arrivals, written with the build fingerprint by
    macros/materializations/reuse_unchanged.sql). The next build reads the rows loaded after that time. Version
    first, time second, both before the build reads: a row that lands meanwhile is read again next time, which
    a merge on the model's key absorbs, and never skipped. `lakehouse stream` is the only writer of its tables
    and stamps each micro-batch later than the one before, so a row committed later is never stamped earlier.

    An input that changed otherwise than by adding rows since that version (a CSV load replacing a file's rows,
    a staging table rebuilt whole) makes the model rebuild whole: `should_full_refresh` below says so, the same
    at compile time (is_incremental) and in the materialization.
-#}
{% macro arrived_since_last_build(relation, column) -%}
    {%- set marker = '/*arrived:' ~ relation ~ ':' ~ column ~ '*/' -%}
    {%- set recorded = none -%}
    {%- if execute and model.resource_type != 'unit_test' and is_incremental() -%}
        {%- set recorded = recorded_arrivals(this).get(relation | string) -%}
    {%- endif -%}
    {%- if recorded is none -%}
        {{ marker }}true/*arrived*/
    {%- else -%}
        {{ marker }}{{ column }} > timestamp_micros({{ recorded['through'] }})/*arrived*/
    {%- endif -%}
{%- endmacro %}


{#- The arrival inputs of the compiled model: (relation, column) of each `arrived_since_last_build`. -#}
{% macro arrival_inputs(compiled_code) -%}
    {{ return(modules.re.findall('/[*]arrived:([^:*]+):([^:*]+)[*]/', compiled_code or '')) }}
{%- endmacro %}


{#-
    The compiled code without what moves with the table's own state: the recorded load times, and any part
    that only an incremental build has, between /*built*/ comments; runs of whitespace count as one space. What
    the build fingerprint hashes, so that a table is reused on the build after the one that created it.
-#}
{% macro without_arrival_times(compiled_code) -%}
    {%- set code = modules.re.sub('(/[*]arrived:[^*]+[*]/).*?/[*]arrived[*]/', '\\1', compiled_code or '') -%}
    {%- set code = modules.re.sub('(?s)/[*]built[*]/.*?/[*]built[*]/', '', code) -%}
    {{ return(modules.re.sub('\\s+', ' ', code).strip()) }}
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


{#- Each arrival input's Delta version and newest load time now: taken before the build reads them. -#}
{% macro current_arrivals(compiled_code) -%}
    {%- set arrivals = {} -%}
    {%- for relation, column in arrival_inputs(compiled_code) -%}
        {%- set version = newest_commit(relation)['version'] -%}
        {%- set through = run_query('select unix_micros(max(' ~ column ~ ')) from ' ~ relation).rows[0][0] -%}
        {%- if through is not none -%}
            {%- do arrivals.update({relation: {'version': version, 'through': through | int}}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(arrivals) }}
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


{#-
    dbt's own rule (--full-refresh, or the model's full_refresh config), and for an incremental model also: an
    arrival input changed by more than added rows since the last build.
-#}
{% macro should_full_refresh() -%}
    {%- set configured = config.get('full_refresh') -%}
    {%- if configured is none -%}
        {%- set configured = flags.FULL_REFRESH -%}
    {%- endif -%}
    {%- if configured or not execute or model.resource_type != 'model' -%}
        {{ return(configured) }}
    {%- elif config.get('materialized') != 'incremental' -%}
        {{ return(configured) }}
    {%- endif -%}
    {#- Asked at compile time and again by the materialization: the answer is kept for the rest of the run. -#}
    {%- set answers = graph.setdefault('lakehouse_rebuilds_whole', {}) -%}
    {%- if (this | string) not in answers -%}
        {%- do answers.update({(this | string): false}) -%}
        {%- for relation, recorded in recorded_arrivals(this).items() if not answers[this | string] -%}
            {%- if changed_beyond_appends(relation, recorded['version']) -%}
                {{ log(this ~ ' rebuilds whole: ' ~ relation ~ ' changed by more than added rows', info=true) }}
                {%- do answers.update({(this | string): true}) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(answers[this | string]) }}
{%- endmacro %}
