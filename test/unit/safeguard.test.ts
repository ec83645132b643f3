import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { safeguardSchema } from '../../src/api/spec.ts';
import { MAX_CHANGESET_CHARS } from '../../src/api/status.ts';
import { changeKey, decodeFingerprints, encodeFingerprints, MAX_FINGERPRINTS, planDigest } from '../../src/reconcile/digest.ts';
import type { PlannedChange } from '../../src/reconcile/plan.ts';
import { checkSafeguard, DEFAULT_SAFEGUARD, gate } from '../../src/reconcile/safeguard.ts';

const create = (email: string, role: 'admin' | 'user' = 'user', name = email): PlannedChange => ({ kind: 'create', email, name, role, dns: [`CN=${email}`] });
const promote = (email: string): PlannedChange => ({ kind: 'promote', email, name: email, userId: email, dns: [`CN=${email}`] });
const creates = (n: number, prefix = 'u'): PlannedChange[] => Array.from({ length: n }, (_, i) => create(`${prefix}${String(i).padStart(5, '0')}@corp.example.com`));
const limits = (maxCreates: number, maxGrowthPercent: number, growthFloor = 0) => ({ maxCreates, maxGrowthPercent, growthFloor });

describe('plan digest', () => {
  it('is a 16-hex sha256 of the changes, whatever their order, case of emails or names', () => {
    const a = [create('ada@corp.example.com', 'admin'), promote('bob@corp.example.com')];
    const d = planDigest(a);
    expect(d).toMatch(/^[0-9a-f]{16}$/);
    expect(planDigest([...a].reverse())).toBe(d);
    expect(planDigest([create('ADA@Corp.example.com', 'admin', 'Ada L.'), promote('bob@corp.example.com')])).toBe(d);
  });

  it('changes when an email, an action or a role changes, or a change is added or dropped', () => {
    const d = planDigest([create('ada@corp.example.com'), create('bob@corp.example.com')]);
    expect(planDigest([create('ada@corp.example.com', 'admin'), create('bob@corp.example.com')])).not.toBe(d);
    expect(planDigest([promote('ada@corp.example.com'), create('bob@corp.example.com')])).not.toBe(d);
    expect(planDigest([create('ada@corp.example.com')])).not.toBe(d);
    expect(planDigest([create('ada@corp.example.com'), create('bob@corp.example.com'), create('cy@corp.example.com')])).not.toBe(d);
    expect(changeKey(promote('Bob@X.com'))).toBe('promote bob@x.com admin');
  });

  it('fingerprints round-trip, and are left out above the cap', () => {
    const cs = creates(50);
    const set = decodeFingerprints(encodeFingerprints(cs));
    expect(set.size).toBe(50);
    expect(encodeFingerprints(creates(MAX_FINGERPRINTS + 1))).toBeUndefined();
    expect(encodeFingerprints(creates(MAX_FINGERPRINTS))?.length).toBeLessThanOrEqual(MAX_CHANGESET_CHARS);
    expect(decodeFingerprints('not base64 of a multiple of 4 bytes!').size).toBe(0);
  });
});

describe('safeguard decision', () => {
  it('defaults agree with the schema: 500 creates, 10% growth, a floor of 10', () => {
    expect(safeguardSchema.parse({})).toEqual(DEFAULT_SAFEGUARD);
  });

  it('maxCreates caps the creates of a run; growth counts against the users in scope, never below the floor', () => {
    expect(checkSafeguard(DEFAULT_SAFEGUARD, 500, 100_000)).toMatchObject({ exceeded: false, allowedCreates: 500, limitedBy: 'maxCreates' });
    expect(checkSafeguard(DEFAULT_SAFEGUARD, 501, 100_000)).toMatchObject({ exceeded: true, allowedCreates: 500, limitedBy: 'maxCreates' });
    expect(checkSafeguard(DEFAULT_SAFEGUARD, 31, 300)).toMatchObject({ exceeded: true, allowedCreates: 30, limitedBy: 'maxGrowthPercent' });
    expect(checkSafeguard(DEFAULT_SAFEGUARD, 30, 300)).toMatchObject({ exceeded: false });
    // an empty Truetask: the floor decides (the first sync of a big directory waits for a person)
    expect(checkSafeguard(DEFAULT_SAFEGUARD, 10, 0)).toMatchObject({ exceeded: false, allowedCreates: 10 });
    expect(checkSafeguard(DEFAULT_SAFEGUARD, 267, 0)).toMatchObject({ exceeded: true, allowedCreates: 10 });
  });

  it('0 turns a limit off, explicitly; both off never holds', () => {
    expect(checkSafeguard(limits(0, 10, 10), 5000, 100_000)).toMatchObject({ exceeded: false, allowedCreates: 10_000 });
    expect(checkSafeguard(limits(500, 0), 500, 0)).toMatchObject({ exceeded: false, allowedCreates: 500 });
    expect(checkSafeguard(limits(0, 0), 1_000_000, 0)).toMatchObject({ exceeded: false, allowedCreates: undefined });
  });

  it('holds exactly when creates exceed the smaller limit (property)', () => {
    fc.assert(
      fc.property(fc.nat(2000), fc.nat(300), fc.nat(50), fc.nat(5000), fc.nat(5000), (maxCreates, pct, floor, n, inScope) => {
        const v = checkSafeguard(limits(maxCreates, pct, floor), n, inScope);
        const bounds = [maxCreates > 0 ? maxCreates : Infinity, pct > 0 ? Math.max(floor, Math.floor((inScope * pct) / 100)) : Infinity];
        expect(v.exceeded).toBe(n > Math.min(...bounds));
      }),
    );
  });
});

describe('gate: what a Sync run may write', () => {
  const lim = limits(5, 0);
  it('a plan within the safeguard is applied; promotions are not counted', () => {
    const changes = [...creates(5), promote('p@corp.example.com'), promote('q@corp.example.com')];
    expect(gate({ changes, inScope: 0, limits: lim })).toEqual({ apply: changes });
  });

  it('a plan above it writes nothing, promotions included, and is held with its digest', () => {
    const changes = [...creates(6), promote('p@corp.example.com')];
    const g = gate({ changes, inScope: 0, limits: lim });
    expect(g.apply).toEqual([]);
    expect(g.held?.digest).toBe(planDigest(changes));
    expect(g.held?.changes).toEqual(changes);
    expect(g.held?.verdict).toMatchObject({ exceeded: true, creates: 6, allowedCreates: 5 });
  });

  it('approving the held digest applies exactly that plan', () => {
    const changes = creates(40);
    const held = gate({ changes, inScope: 0, limits: lim }).held!;
    const g = gate({ changes, inScope: 0, limits: lim, approved: { digest: held.digest, fingerprints: held.fingerprints } });
    expect(g).toEqual({ apply: changes, approval: { digest: held.digest, exact: true, approvedChanges: 40, newChanges: 0 } });
  });

  it('AD changed since approval: the reviewed changes still valid, plus new ones within the safeguard', () => {
    const reviewed = creates(40);
    const held = gate({ changes: reviewed, inScope: 0, limits: lim }).held!;
    const approved = { digest: held.digest, fingerprints: held.fingerprints };
    // 10 reviewed users were created by hand meanwhile, 3 new hires appeared: all 33 are applied
    const now = [...reviewed.slice(10), ...creates(3, 'new')];
    const g = gate({ changes: now, inScope: 10, limits: lim, approved });
    expect(g.apply).toHaveLength(33);
    expect(g.held).toBeUndefined();
    expect(g.approval).toEqual({ digest: held.digest, exact: false, approvedChanges: 30, newChanges: 3 });
    // a reviewed user whose role changed is a new change
    const roleChanged = [create(reviewed[0]!.email, 'admin'), ...reviewed.slice(1)];
    expect(gate({ changes: roleChanged, inScope: 0, limits: lim, approved }).approval).toMatchObject({ approvedChanges: 39, newChanges: 1 });
  });

  it('AD changed since approval by more than the safeguard: the reviewed changes are applied, the new ones wait for a new approval', () => {
    const reviewed = creates(40);
    const held = gate({ changes: reviewed, inScope: 0, limits: lim }).held!;
    const newcomers = creates(6, 'new');
    const g = gate({ changes: [...reviewed, ...newcomers], inScope: 0, limits: lim, approved: { digest: held.digest, fingerprints: held.fingerprints } });
    expect(g.apply).toEqual(reviewed);
    expect(g.held?.changes).toEqual(newcomers);
    expect(g.held?.digest).toBe(planDigest(newcomers));
    expect(g.approval).toMatchObject({ exact: false, approvedChanges: 40, newChanges: 0 });
  });

  it('a plan too big for fingerprints is approved as a whole only: any change needs a new approval', () => {
    const reviewed = creates(MAX_FINGERPRINTS + 1);
    const held = gate({ changes: reviewed, inScope: 0, limits: lim }).held!;
    expect(held.fingerprints).toBeUndefined();
    const g = gate({ changes: reviewed.slice(1), inScope: 0, limits: lim, approved: { digest: held.digest } });
    expect(g.apply).toEqual([]);
    expect(g.held?.changes).toHaveLength(MAX_FINGERPRINTS);
  });

  it('never applies a change outside the approved plan beyond the safeguard (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 6, max: 60 }), fc.nat(40), fc.nat(20), (n, dropped, added) => {
        const reviewed = creates(n);
        const held = gate({ changes: reviewed, inScope: 0, limits: lim }).held!;
        const now = [...reviewed.slice(Math.min(dropped, n)), ...creates(added, 'new')];
        const g = gate({ changes: now, inScope: 0, limits: lim, approved: { digest: held.digest, fingerprints: held.fingerprints } });
        const reviewedKeys = new Set(reviewed.map(changeKey));
        const unreviewed = g.apply.filter((c) => !reviewedKeys.has(changeKey(c)));
        expect(unreviewed.length).toBe(added <= 5 ? added : 0);
        expect(g.apply.length + (g.held?.changes.length ?? 0)).toBe(now.length);
      }),
      { numRuns: 50 },
    );
  });
});
