// Counts for the fuzz and fault runs: every case is the same as the reference, an allowed
// divergence (by rule), a divergence, or a crash. The totals go to build/reliability/NAME.json
// and to the test output, for RELIABILITY.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './activated.js';
import type { Verdict } from './divergences.js';

interface Problem {
  readonly id: number;
  readonly why: string;
  readonly detail?: unknown;
}

export class Tally {
  private readonly started = Date.now();
  cases = 0;
  same = 0;
  readonly allowed: Record<string, number> = {};
  readonly divergent: Problem[] = [];
  readonly crashes: Problem[] = [];
  readonly counts: Record<string, number> = {};

  constructor(
    readonly name: string,
    readonly seed: number,
  ) {}

  /** One compared case. */
  record(id: number, verdict: Verdict, detail?: unknown): void {
    this.cases++;
    if (verdict.same) this.same++;
    else if (verdict.rule) this.allowed[verdict.rule] = (this.allowed[verdict.rule] ?? 0) + 1;
    else this.divergent.push({ id, why: verdict.why, detail });
  }

  /** A case whose process died, hung or printed nothing. */
  crash(id: number, why: string, detail?: unknown): void {
    this.cases++;
    this.crashes.push({ id, why, detail });
  }

  count(key: string, by = 1): void {
    this.counts[key] = (this.counts[key] ?? 0) + by;
  }

  /** Writes the figures and returns them; the first few problems are kept in full. */
  finish(): Record<string, unknown> {
    const figures = {
      name: this.name,
      seed: this.seed,
      cases: this.cases,
      same: this.same,
      allowed: this.allowed,
      divergent: this.divergent.length,
      crashes: this.crashes.length,
      counts: this.counts,
      seconds: Math.round((Date.now() - this.started) / 100) / 10,
      firstProblems: [...this.crashes, ...this.divergent].slice(0, 20),
    };
    mkdirSync(join(root, 'build', 'reliability'), { recursive: true });
    const plain = (_key: string, v: unknown) => (typeof v === 'bigint' || typeof v === 'symbol' ? String(v) : v);
    writeFileSync(join(root, 'build', 'reliability', `${this.name}.json`), `${JSON.stringify(figures, plain, 2)}\n`);
    console.log(`${this.name}: ${JSON.stringify({ ...figures, firstProblems: undefined })}`);
    return figures;
  }
}
