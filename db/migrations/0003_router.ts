import { sql, type Kysely } from 'kysely';

/**
 * The model router's tables: the cost ledger `llm_calls` (partitioned by
 * month, like session_events), the per-tenant answer cache with a TTL, the
 * budget spend per tenant and period, and budget reservations of calls in
 * flight, with the function that reserves atomically per tenant.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table llm_calls (
      id uuid not null,
      created_at timestamptz not null default now(),
      tenant_id text not null,
      session_id text,
      kind text not null,
      route text not null,
      request_type text,
      tier text,
      provider text not null,
      model text not null,
      provider_model text not null,
      input_tokens integer not null default 0,
      output_tokens integer not null default 0,
      cached_input_tokens integer not null default 0,
      cost_usd numeric(20, 8) not null default 0,
      saved_usd numeric(20, 8) not null default 0,
      latency_ms double precision not null,
      cache_hit boolean not null default false,
      merged boolean not null default false,
      fallback_used boolean not null default false,
      downgraded_from text,
      attempts integer not null default 0,
      outcome text not null check (outcome in ('ok', 'cache_hit', 'merged', 'error', 'refused')),
      error_class text,
      usage_estimated boolean not null default false,
      primary key (id, created_at)
    ) partition by range (created_at)
  `.execute(db);
  await sql`create table llm_calls_default partition of llm_calls default`.execute(db);
  await sql`create index llm_calls_tenant_created on llm_calls (tenant_id, created_at)`.execute(db);
  await sql`create index llm_calls_session on llm_calls (session_id) where session_id is not null`.execute(db);

  await sql`
    create table llm_cache (
      tenant_id text not null,
      cache_key text not null,
      model text not null,
      value jsonb not null,
      cost_usd numeric(20, 8) not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      primary key (tenant_id, cache_key)
    )
  `.execute(db);
  await sql`create index llm_cache_expires on llm_cache (expires_at)`.execute(db);

  await sql`
    create table llm_budget_usage (
      tenant_id text not null,
      period text not null check (period in ('day', 'month')),
      period_start date not null,
      spent_usd numeric(20, 8) not null default 0,
      updated_at timestamptz not null default now(),
      primary key (tenant_id, period, period_start)
    )
  `.execute(db);

  await sql`
    create table llm_budget_reservations (
      id uuid primary key,
      tenant_id text not null,
      amount_usd numeric(20, 8) not null,
      day date not null,
      month date not null,
      expires_at timestamptz not null,
      created_at timestamptz not null default now()
    )
  `.execute(db);
  await sql`create index llm_budget_reservations_tenant on llm_budget_reservations (tenant_id, month, expires_at)`.execute(db);

  // One tenant's reservations are taken one at a time (a transaction-scoped
  // advisory lock), so that concurrent calls cannot overshoot a limit.
  // Expired reservations (a worker died mid-call) stop counting by themselves.
  await sql`
    create function llm_budget_reserve(
      p_id uuid, p_tenant text, p_amount numeric, p_day date, p_month date,
      p_day_limit numeric, p_month_limit numeric, p_ttl_seconds integer
    ) returns table (ok boolean, period text, limit_usd numeric, spent_usd numeric, reserved_usd numeric, day_left numeric, month_left numeric)
    language plpgsql as $$
    declare
      d_spent numeric; m_spent numeric; d_reserved numeric; m_reserved numeric;
    begin
      perform pg_advisory_xact_lock(hashtextextended('llm_budget:' || p_tenant, 0));
      delete from llm_budget_reservations r where r.tenant_id = p_tenant and r.expires_at < now() - interval '1 hour';
      select coalesce(sum(u.spent_usd) filter (where u.period = 'day' and u.period_start = p_day), 0),
             coalesce(sum(u.spent_usd) filter (where u.period = 'month' and u.period_start = p_month), 0)
        into d_spent, m_spent
        from llm_budget_usage u where u.tenant_id = p_tenant and u.period_start in (p_day, p_month);
      select coalesce(sum(r.amount_usd) filter (where r.day = p_day), 0), coalesce(sum(r.amount_usd), 0)
        into d_reserved, m_reserved
        from llm_budget_reservations r where r.tenant_id = p_tenant and r.month = p_month and r.expires_at > now();
      if p_day_limit is not null and d_spent + d_reserved + p_amount > p_day_limit then
        return query select false, 'day'::text, p_day_limit, d_spent, d_reserved, null::numeric, null::numeric;
        return;
      end if;
      if p_month_limit is not null and m_spent + m_reserved + p_amount > p_month_limit then
        return query select false, 'month'::text, p_month_limit, m_spent, m_reserved, null::numeric, null::numeric;
        return;
      end if;
      insert into llm_budget_reservations (id, tenant_id, amount_usd, day, month, expires_at)
        values (p_id, p_tenant, p_amount, p_day, p_month, now() + make_interval(secs => p_ttl_seconds));
      return query select true, null::text, null::numeric, null::numeric, null::numeric,
        p_day_limit - d_spent - d_reserved - p_amount, p_month_limit - m_spent - m_reserved - p_amount;
    end $$
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop function if exists llm_budget_reserve`.execute(db);
  await sql`drop table if exists llm_budget_reservations`.execute(db);
  await sql`drop table if exists llm_budget_usage`.execute(db);
  await sql`drop table if exists llm_cache`.execute(db);
  await sql`drop table if exists llm_calls cascade`.execute(db);
}
