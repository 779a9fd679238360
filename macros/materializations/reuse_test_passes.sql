{#-
    A test is run again only when something it reads changed since it last passed. Its pass fingerprint is the
    md5 of its compiled SQL and config and, for a data test, the Delta version of every table it reads, through
    any views in between (the same versions a table's build fingerprint has, reuse_unchanged.sql); a unit test
    reads only the rows its yml gives, which its compiled SQL holds. A test that passes has its fingerprint
    in the table below, at the end of the run for data tests (dbt_project.yml, on-run-end: one commit), at once
    for a unit test (its context shares nothing with the run's end); a later run that finds the same fingerprint
    there reports the pass without running the test: the same SQL on the same table versions gives the same
    answer. A failure, a warning or an error is never recorded, so such a test always runs again;
    so does every test under --full-refresh, or with LAKEHOUSE_RERUN_TESTS=1 in the environment.
-#}
{% macro test_passes_relation() -%}
    {{ return(api.Relation.create(schema='lakehouse_state', identifier='test_passes')) }}
{%- endmacro %}


{% macro test_pass_fingerprint(parts) -%}
    {%- set inputs = [without_arrival_times(sql), tojson(model.config)] + parts -%}
    {%- if model.resource_type == 'test' -%}
        {%- for parent in model.depends_on.nodes -%}
            {%- do inputs.extend(upstream_versions(parent)) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(local_md5(inputs | join('\n'))) }}
{%- endmacro %}


{#- Whether a test with this fingerprint passed before; else the fingerprint is kept for on-run-end. -#}
{% macro passed_before(fingerprint) -%}
    {%- if flags.FULL_REFRESH or env_var('LAKEHOUSE_RERUN_TESTS', '') not in ['', '0'] -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set passes = graph.setdefault('lakehouse_test_passes', {}) -%}
    {%- if 'recorded' not in passes -%}
        {%- set recorded = [] -%}
        {%- set relation = test_passes_relation() -%}
        {%- if adapter.get_relation(relation.database, relation.schema, relation.identifier) is not none -%}
            {%- set recorded = run_query('select fingerprint from ' ~ relation).columns[0].values() | list -%}
        {%- endif -%}
        {%- do passes.update({'recorded': recorded}) -%}
    {%- endif -%}
    {%- if fingerprint in passes['recorded'] -%}
        {{ return(true) }}
    {%- endif -%}
    {%- do passes.setdefault('ran', {}).update({model.unique_id: fingerprint}) -%}
    {{ return(false) }}
{%- endmacro %}


{#- on-run-end: the fingerprints of the tests that ran and passed, in one commit. -#}
{% macro record_test_passes(results) -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set ran = graph.get('lakehouse_test_passes', {}).get('ran', {}) -%}
    {%- set passed = [] -%}
    {%- for result in results if result.status == 'pass' and result.node.unique_id in ran -%}
        {%- do passed.append("('" ~ ran[result.node.unique_id] ~ "', current_timestamp())") -%}
    {%- endfor -%}
    {%- if passed -%}
        {%- do insert_test_passes(passed) -%}
    {%- endif -%}
{%- endmacro %}


{% macro insert_test_passes(rows) -%}
    {%- set relation = test_passes_relation() -%}
    {%- do run_query('create schema if not exists ' ~ relation.schema) -%}
    {%- set columns = '(fingerprint string, passed_at timestamp)' -%}
    {%- do run_query('create table if not exists ' ~ relation ~ ' ' ~ columns ~ ' using delta') -%}
    {%- do run_query('insert into ' ~ relation ~ ' values ' ~ rows | join(', ')) -%}
{%- endmacro %}


{% materialization test, adapter='spark' -%}
    {%- if passed_before(test_pass_fingerprint([])) -%}
        {{ log('reusing the pass of ' ~ model.unique_id ~ ': its code and inputs are as they were then') }}
        {%- call statement('main', fetch_result=True) -%}
            select 0 as failures, false as should_warn, false as should_error
        {%- endcall -%}
        {{ return({'relations': []}) }}
    {%- endif -%}
    {{ return(dbt.materialization_test_default()) }}
{%- endmaterialization %}


{% materialization unit, adapter='spark' -%}
    {%- set expected = [tojson(config.get('expected_rows')), config.get('expected_sql') or ''] -%}
    {%- set fingerprint = test_pass_fingerprint(expected) -%}
    {%- if passed_before(fingerprint) -%}
        {{ log('reusing the pass of ' ~ model.unique_id ~ ': its code and rows are as they were then') }}
        {%- call statement('main', fetch_result=True) -%}
            select cast(null as string) as actual_or_expected where false
        {%- endcall -%}
        {{ return({'relations': []}) }}
    {%- endif -%}
    {%- set result = dbt.materialization_unit_default() -%}
    {#- dbt compares the rows after this returns; the same comparison, as multisets of rows, says pass here. -#}
    {%- set table = load_result('main').table -%}
    {%- set side = table.column_names.index('actual_or_expected') -%}
    {%- set rows = {'actual': [], 'expected': []} -%}
    {%- for row in table.rows -%}
        {%- set values = row.values() | list -%}
        {%- do rows[values[side]].append((values[:side] + values[side + 1:]) | string) -%}
    {%- endfor -%}
    {%- if rows['actual'] | sort == rows['expected'] | sort -%}
        {%- do insert_test_passes(["('" ~ fingerprint ~ "', current_timestamp())"]) -%}
    {%- endif -%}
    {{ return(result) }}
{%- endmaterialization %}
