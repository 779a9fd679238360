{#-
    A table, incremental model or seed is rebuilt only when something it is built from changed. Its build
    fingerprint is the md5 of its compiled SQL (or, for a seed, the CSV's checksum), its config, the command's
    vars, and the Delta version of every table it reads, through any views in between. After a build the
    fingerprint is kept as a table property; a later build with the same fingerprint, of a table whose newest
    commit is still that property, reuses the table as it is instead of writing the same rows again. Delta
    versions only move forward, so a reloaded source or a rebuilt parent always rebuilds its children;
    `--full-refresh` rebuilds everything, as dbt users expect. A reuse still runs its data tests. What an
    incremental model's compiled code says of its own state (the load times its arrival inputs are read from,
    macros/arrivals.sql) is not part of its fingerprint, since it moves with every build; its inputs' versions
    are, and are recorded with it.
-#}
{% macro build_unless_unchanged(build) -%}
    {%- set fingerprint = build_fingerprint() -%}
    {%- if not should_full_refresh() and recorded_fingerprint(this) == fingerprint -%}
        {{ log('reusing ' ~ this ~ ': its code, config and inputs are as they were when it was built') }}
        {%- do store_result('main', response='REUSED') -%}
        {%- if model.resource_type == 'seed' -%}
            {%- do store_result('agate_table', response='REUSED', agate_table=load_agate_table()) -%}
        {%- endif -%}
        {{ return({'relations': [this]}) }}
    {%- endif -%}
    {%- set arrivals = current_arrivals(model.compiled_code) -%}
    {%- set result = build() -%}
    {%- call statement('record_build_fingerprint') -%}
        alter table {{ this }} set tblproperties (
            'lakehouse.build_fingerprint' = '{{ fingerprint }}'
            {%- if arrivals %}, 'lakehouse.arrivals' = '{{ tojson(arrivals) }}'{% endif %}
        )
    {%- endcall -%}
    {{ return(result) }}
{%- endmacro %}


{% macro build_fingerprint() -%}
    {%- set inputs = [
        without_arrival_times(model.compiled_code) if model.resource_type != 'seed' else model.checksum.checksum,
        tojson(model.config),
        tojson(invocation_args_dict.get('vars', {})),
    ] -%}
    {%- for parent in model.depends_on.nodes -%}
        {%- do inputs.extend(upstream_versions(parent)) -%}
    {%- endfor -%}
    {{ return(local_md5(inputs | join('\n'))) }}
{%- endmacro %}


{#-
    `relation@version` for every table a node's rows come from;
    a view or ephemeral model counts as its code and its parents.
-#}
{% macro upstream_versions(node_id) -%}
    {%- set node = graph.nodes.get(node_id) or graph.sources.get(node_id) -%}
    {%- if node.resource_type == 'model' and node.config.materialized in ['view', 'ephemeral'] -%}
        {%- set versions = [node_id ~ ' ' ~ node.checksum.checksum ~ ' ' ~ tojson(node.config)] -%}
        {%- for parent in node.depends_on.nodes -%}
            {%- do versions.extend(upstream_versions(parent)) -%}
        {%- endfor -%}
        {{ return(versions) }}
    {%- endif -%}
    {%- set relation = api.Relation.create(
        database=node.database,
        schema=node.schema,
        identifier=(node.identifier or node.alias) if node.resource_type == 'source' else node.alias,
    ) -%}
    {%- if node.resource_type == 'source' -%}
        {%- set existing = adapter.get_relation(relation.database, relation.schema, relation.identifier) -%}
        {#- A source another program has not written yet (ml.model_versions before the first scoring run). -#}
        {%- if existing is none -%}
            {{ return([relation ~ '@absent']) }}
        {%- endif -%}
        {#- A view over another table (K copies' quarantine, lakehouse/ingest/scale.py): no version of its own. -#}
        {%- if existing.is_view -%}
            {{ return([relation ~ '@' ~ invocation_id]) }}
        {%- endif -%}
    {%- endif -%}
    {#-
        Kept for the rest of the run: a node asks only for tables it reads, which the run has built (or reused)
        before it and does not write again; a source that the stream appends to meanwhile is then read newer
        than its recorded version, which only makes the next run check again.
    -#}
    {%- set versions = graph.setdefault('lakehouse_versions', {}) -%}
    {%- if (relation | string) not in versions -%}
        {%- do versions.update({(relation | string): newest_commit(relation)['version']}) -%}
    {%- endif -%}
    {{ return([relation ~ '@' ~ versions[relation | string]]) }}
{%- endmacro %}


{#- The newest entry of a Delta table's history: its version, operation and parameters. -#}
{% macro newest_commit(relation) -%}
    {{ return(run_query('describe history ' ~ relation ~ ' limit 1').rows[0]) }}
{%- endmacro %}


{#- The fingerprint a table was last built with, if nothing has written to it since; none otherwise. -#}
{% macro recorded_fingerprint(relation) -%}
    {%- set existing = load_relation(relation) -%}
    {%- if existing is none or not existing.is_delta -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set newest = newest_commit(relation) -%}
    {%- if newest['operation'] != 'SET TBLPROPERTIES' -%}
        {{ return(none) }}
    {%- endif -%}
    {#- The parameters are a map: JSON through a session, Hive's own text through Thrift; the md5 reads the same. -#}
    {%- set recorded = modules.re.search(
        'lakehouse[.]build_fingerprint\\W*([0-9a-f]{32})', newest['operationParameters'] | string
    ) -%}
    {{ return(recorded.group(1) if recorded else none) }}
{%- endmacro %}


{% materialization table, adapter='spark', supported_languages=['sql', 'python'] -%}
    {{ return(build_unless_unchanged(dbt.materialization_table_spark)) }}
{%- endmaterialization %}


{% materialization incremental, adapter='spark', supported_languages=['sql', 'python'] -%}
    {{ return(build_unless_unchanged(dbt.materialization_incremental_spark)) }}
{%- endmaterialization %}


{% materialization seed, adapter='spark' -%}
    {{ return(build_unless_unchanged(dbt.materialization_seed_default)) }}
{%- endmaterialization %}
