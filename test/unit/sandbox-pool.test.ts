/**
 * The warm pool's rules on an in-memory engine: filling to minIdle, warm and
 * cold claims, exclusivity, idempotent claims, release that never returns a
 * container, the maxTotal cap and waiting, recycling by age and health, and
 * rebuilding its state from what the engine holds (a restarted worker, a
 * restarted engine). The same rules run on Docker in test/integration/sandbox-pool.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LABELS } from '../../sandbox/container-spec.js';
import { PoolExhaustedError } from '../../sandbox/pool.js';
import { FakeEngine, SPEC, idleNamed, makePool, names, selector, session, stopPools, until } from '../support/fake-pool-engine.js';

afterEach(stopPools);

describe('filling and claiming', () => {
  it('starts minIdle containers, claims one by renaming it, and refills', async () => {
    const engine = new FakeEngine();
    const { pool, metrics } = makePool(engine);
    await pool.start();
    await until(() => pool.stats().idle === 2);
    const claim = await pool.claim(session(1));
    expect(claim).toMatchObject({ source: 'warm', created: true, waited: false });
    expect(engine.containers.get(claim.containerId)?.name).toBe(names.session('ses_1'));
    await until(() => pool.stats().idle === 2);
    expect(pool.stats()).toMatchObject({ inUse: 1, idle: 2 });
    expect(engine.creates).toBe(3);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/sandbox_claim_seconds_count\{[^}]*result="hit"[^}]*\} 1/);
    expect(text).toMatch(/sandbox_pool_idle\{[^}]*\} 2/);
    expect(text).toMatch(/sandbox_pool_in_use\{[^}]*\} 1/);
  });

  it('gives each session its own container, and the same one to a retried claim', async () => {
    const engine = new FakeEngine();
    const { pool } = makePool(engine);
    await pool.start();
    await until(() => pool.stats().idle === 2);
    const [a, again, b] = await Promise.all([pool.claim(session(1)), pool.claim(session(1)), pool.claim(session(2))]);
    expect(again.containerId).toBe(a.containerId);
    expect(b.containerId).not.toBe(a.containerId);
    const retried = await pool.claim(session(1));
    expect(retried).toMatchObject({ containerId: a.containerId, created: false, source: 'existing' });
  });

  it('skips an idle container that another process claimed first (its claim record is the lock)', async () => {
    const engine = new FakeEngine();
    const { pool } = makePool(engine, { minIdle: 1 });
    await pool.start();
    await until(() => pool.stats().idle === 1);
    const [taken] = idleNamed(engine);
    if (taken) taken.claimedBy = 'ses_other';
    const claim = await pool.claim(session(1));
    expect(claim.containerId).not.toBe(taken?.id);
    expect(claim.source).toBe('cold');
  });

  it('does not adopt an idle-named container that carries a claim record (a claim cut short)', async () => {
    const engine = new FakeEngine();
    const cut = engine.add(names.idle('cut'), { ...selector, [LABELS.spec]: SPEC }, { claimedBy: 'ses_crashed' });
    const { pool } = makePool(engine, { minIdle: 0 });
    await pool.start();
    expect(pool.stats().idle).toBe(0);
    expect(engine.removed).toEqual([cut.id]);
  });

  it('starts a cold container when none is idle, and says so in the metric', async () => {
    const engine = new FakeEngine();
    const { pool, metrics } = makePool(engine, { minIdle: 0 });
    await pool.start();
    const claim = await pool.claim(session(1));
    expect(claim.source).toBe('cold');
    expect(engine.containers.get(claim.containerId)?.labels).toMatchObject({ [LABELS.session]: 'ses_1', [LABELS.tenant]: 'tenant-1' });
    expect(await metrics.registry.metrics()).toMatch(/sandbox_claim_seconds_count\{[^}]*result="miss"[^}]*\} 1/);
  });

  it('refuses a session id that cannot name a container', async () => {
    const { pool } = makePool(new FakeEngine());
    expect(() => pool.claim({ sessionId: '../etc', tenantId: 't' })).toThrow(/must match/);
  });

  it('refuses minIdle above maxTotal', () => {
    expect(() => makePool(new FakeEngine(), { minIdle: 5, maxTotal: 4 })).toThrow(/more than maxTotal/);
  });
});

describe('release', () => {
  it('destroys the container: it never goes back to the pool', async () => {
    const engine = new FakeEngine();
    const { pool } = makePool(engine);
    await pool.start();
    await until(() => pool.stats().idle === 2);
    const claim = await pool.claim(session(1));
    expect(await pool.release('ses_1')).toEqual({ removed: 1 });
    expect(await pool.release('ses_1')).toEqual({ removed: 0 });
    expect(engine.containers.has(claim.containerId)).toBe(false);
    await until(() => pool.stats().idle === 2);
    const next = await pool.claim(session(2));
    expect(next.containerId).not.toBe(claim.containerId);
  });
});

describe('the maxTotal cap', () => {
  it('makes a claim wait, then fail retryably, when every slot is taken', async () => {
    const engine = new FakeEngine();
    const { pool } = makePool(engine, { minIdle: 0, maxTotal: 2, waitTimeoutMs: 100 });
    await pool.start();
    await pool.claim(session(1));
    await pool.claim(session(2));
    await expect(pool.claim(session(3))).rejects.toThrow(PoolExhaustedError);
  });

  it('serves a waiting claim as soon as a release frees a slot', async () => {
    const engine = new FakeEngine();
    const { pool } = makePool(engine, { minIdle: 0, maxTotal: 1, waitTimeoutMs: 2_000 });
    await pool.start();
    await pool.claim(session(1));
    const waiting = pool.claim(session(2));
    await until(() => pool.stats().waiting === 1);
    await pool.release('ses_1');
    expect(await waiting).toMatchObject({ waited: true, source: 'cold' });
  });

  it('in wait mode, a claim with no idle container waits for the refill instead of starting one', async () => {
    const engine = new FakeEngine();
    const { pool, metrics } = makePool(engine, { minIdle: 0, maxTotal: 2, whenEmpty: 'wait', waitTimeoutMs: 2_000 });
    await pool.start();
    const claim = await pool.claim(session(1));
    expect(claim).toMatchObject({ source: 'warm', waited: true });
    expect(await metrics.registry.metrics()).toMatch(/sandbox_claim_seconds_count\{[^}]*result="miss"[^}]*\} 1/);
  });
});

describe('health and age', () => {
  it('recycles idle containers past maxAge and those that stop answering', async () => {
    const engine = new FakeEngine();
    const { pool } = makePool(engine, { minIdle: 2, healthIntervalMs: 20, maxAgeMs: 1_000 });
    await pool.start();
    await until(() => pool.stats().idle === 2);
    const [sick, old] = idleNamed(engine);
    if (sick) sick.healthy = false;
    await until(() => sick !== undefined && engine.removed.includes(sick.id));
    engine.now += 5_000;
    await until(() => old !== undefined && engine.removed.includes(old.id));
    await until(() => pool.stats().idle === 2);
    expect(idleNamed(engine).every((c) => c.healthy && engine.now - c.createdMs < 1_000)).toBe(true);
  });

  it('backs off and keeps trying when the engine cannot start containers', async () => {
    const engine = new FakeEngine();
    engine.failCreates = 1;
    const { pool } = makePool(engine, { minIdle: 1 });
    await pool.start();
    await until(() => pool.stats().idle === 1, 3_000);
  });
});

describe('state rebuilt from the engine', () => {
  it('adopts healthy idle containers of its spec, keeps claimed ones, removes the rest', async () => {
    const engine = new FakeEngine();
    const good = engine.add(names.idle('aaa'), { ...selector, [LABELS.spec]: SPEC });
    const otherSpec = engine.add(names.idle('bbb'), { ...selector, [LABELS.spec]: 'old' });
    const stopped = engine.add(names.idle('ccc'), { ...selector, [LABELS.spec]: SPEC }, { running: false });
    const tooOld = engine.add(names.idle('ddd'), { ...selector, [LABELS.spec]: SPEC }, { createdMs: engine.now - 120_000 });
    const claimed = engine.add(names.session('ses_9'), { ...selector, [LABELS.spec]: SPEC });
    const leftover = engine.add('kortix-something-else', { ...selector });
    const foreign = engine.add(names.idle('eee'), { [LABELS.pool]: 'another' });
    const { pool } = makePool(engine, { minIdle: 1 });
    await pool.start();
    expect(pool.stats()).toMatchObject({ idle: 1, inUse: 1 });
    expect(engine.removed.sort()).toEqual([otherSpec.id, stopped.id, tooOld.id, leftover.id].sort());
    expect(engine.containers.has(good.id) && engine.containers.has(claimed.id) && engine.containers.has(foreign.id)).toBe(true);
    expect(await pool.claim(session(10))).toMatchObject({ containerId: good.id, source: 'warm' });
    expect(await pool.claim(session(9))).toMatchObject({ containerId: claimed.id, source: 'existing' });
  });

  it('removes claimed containers whose session no longer holds them', async () => {
    const engine = new FakeEngine();
    const ended = engine.add(names.session('ses_ended'), { ...selector });
    const live = engine.add(names.session('ses_live'), { ...selector });
    const { pool } = makePool(engine, { minIdle: 0 }, { isOrphan: async (s) => s === 'ses_ended' });
    await pool.start();
    expect(await pool.reapOrphans()).toBe(1);
    expect(engine.containers.has(ended.id)).toBe(false);
    expect(engine.containers.has(live.id)).toBe(true);
    expect(pool.stats().inUse).toBe(1);
  });

  it('survives an engine restart: stopped idle containers are replaced, a stopped claimed one is replaced at its next claim', async () => {
    const engine = new FakeEngine();
    const { pool } = makePool(engine, { minIdle: 2 });
    await pool.start();
    await until(() => pool.stats().idle === 2);
    const first = await pool.claim(session(1));
    await until(() => pool.stats().idle === 2);
    const before = new Set(engine.containers.keys());
    engine.restart();
    await until(() => pool.stats().idle === 2 && idleNamed(engine).every((c) => c.running && !before.has(c.id)));
    const again = await pool.claim(session(1));
    expect(again).toMatchObject({ replacedStopped: true, created: true });
    expect(again.containerId).not.toBe(first.containerId);
    // Events are followed again after the restart.
    await until(() => pool.stats().idle === 2 && pool.stats().creating === 0);
    const [idle] = idleNamed(engine);
    if (idle) engine.emit({ containerId: idle.id, action: 'die' });
    await until(() => idle !== undefined && engine.removed.includes(idle.id));
  });
});

describe('engine events', () => {
  it('counts OOM kills per container and wakes whoever waits for one', async () => {
    const engine = new FakeEngine();
    const { pool, metrics } = makePool(engine, { minIdle: 0 });
    await pool.start();
    const seen = pool.oomKills('c42');
    const waiting = pool.waitForOomKill('c42', seen, 1_000);
    engine.emit({ containerId: 'c42', action: 'oom' });
    expect(await waiting).toBe(true);
    expect(await pool.waitForOomKill('c42', 1, 20)).toBe(false);
    expect(await metrics.registry.metrics()).toMatch(/sandbox_oom_kills_total\{[^}]*\} 1/);
  });

  it('replaces an idle container that dies', async () => {
    const engine = new FakeEngine();
    const { pool } = makePool(engine, { minIdle: 1 });
    await pool.start();
    await until(() => pool.stats().idle === 1);
    const [idle] = idleNamed(engine);
    if (idle) idle.running = false;
    if (idle) engine.emit({ containerId: idle.id, action: 'die' });
    await until(() => pool.stats().idle === 1 && idleNamed(engine).every((c) => c.id !== idle?.id));
  });
});

describe('sessions whose policy names hosts', () => {
  const egress = { network: 'kortix-egress-x', proxyUrl: 'http://172.30.0.1:3128', allow: ['allowed.test'] };

  it('take a warm container when idle ones can join the egress network (the host connects it after the claim)', async () => {
    const engine = new FakeEngine();
    const { pool } = makePool(engine, {}, { warmEgress: () => true });
    await pool.start();
    await until(() => pool.stats().idle === 2);
    const claim = await pool.claim({ ...session(1), egress });
    expect(claim).toMatchObject({ source: 'warm', created: true });
    expect(engine.creates).toBe(2);
  });

  it('get a cold container on the network when idle ones cannot join it, or when secrets need a container made for them', async () => {
    const engine = new FakeEngine();
    let warmEgress = false;
    const { pool } = makePool(engine, {}, { warmEgress: () => warmEgress });
    await pool.start();
    await until(() => pool.stats().idle === 2);
    expect(await pool.claim({ ...session(1), egress })).toMatchObject({ source: 'cold' });
    warmEgress = true;
    const secrets = { tenantId: 'tenant-1', secrets: [{ name: 'TOKEN', hosts: ['allowed.test'], inject: { header: 'authorization', format: 'Bearer {value}' } }] };
    expect(await pool.claim({ ...session(2), egress: { ...egress, secrets } })).toMatchObject({ source: 'cold' });
    expect(pool.stats().idle).toBe(2);
  });

  /** Two idle, two in use: full. Idle containers cannot join the egress network here. */
  async function fullOfIdle(engine: FakeEngine) {
    const { pool } = makePool(engine, { minIdle: 2, maxTotal: 4, waitTimeoutMs: 1_000 });
    await pool.start();
    await until(() => pool.stats().idle === 2);
    await pool.claim(session(8));
    await pool.claim(session(9));
    await until(() => pool.stats().idle === 2);
    const [oldest] = idleNamed(engine).sort((a, b) => a.createdMs - b.createdMs);
    return { pool, oldest };
  }

  it('get a cold container when the pool is full of idle ones they cannot use: the oldest idle one makes room', async () => {
    const engine = new FakeEngine();
    const { pool, oldest } = await fullOfIdle(engine);
    const claim = await pool.claim({ ...session(1), egress });
    expect(claim).toMatchObject({ source: 'cold', created: true, waited: false });
    expect(engine.containers.has(oldest?.id ?? '')).toBe(false);
    expect(pool.stats()).toMatchObject({ inUse: 3, idle: 1 });
    // Never more than maxTotal containers, and the refill does not start a warm one a cold claim cannot use.
    await new Promise((r) => setTimeout(r, 50));
    expect(engine.containers.size).toBeLessThanOrEqual(4);
  });

  it('leave alone an idle container another process of this host claimed first: its session keeps it', async () => {
    const engine = new FakeEngine();
    const { pool, oldest } = await fullOfIdle(engine);
    // Another worker on this Docker host wrote its claim record on the oldest one (engine.mark: the lock of a claim).
    if (oldest) oldest.claimedBy = 'ses_other-process';
    const claim = await pool.claim({ ...session(1), egress });
    expect(claim).toMatchObject({ source: 'cold', created: true });
    expect(engine.containers.get(oldest?.id ?? '')?.claimedBy).toBe('ses_other-process');
  });
});
