// A wall clock that a test steps for the processes it starts, as NTP, chrony's makestep, a
// resumed VM or `date -s` step the real one, without touching the machine's clock (other tests
// and users share it): libfaketime (Debian's libfaketime package) preloaded, CLOCK_REALTIME only
// (FAKETIME_DONT_FAKE_MONOTONIC), its offset read from a file at every call (FAKETIME_NO_CACHE),
// so writing the file steps Date.now() in every process started with `env`, children included.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where Debian installs the library: /usr/lib/<multiarch triplet>/faketime/. */
function library(): string {
  for (const dir of readdirSync('/usr/lib')) {
    const path = join('/usr/lib', dir, 'faketime', 'libfaketime.so.1');
    if (existsSync(path)) return path;
  }
  throw new Error('libfaketime.so.1 not found under /usr/lib/*/faketime/: install the libfaketime package (apt-get install libfaketime; .ci/run does)');
}

export interface SteppedClock {
  /** Variables that put a process (and what it starts, which inherits them) on this clock. */
  readonly env: Record<string, string>;
  /** The file libfaketime reads the offset from: a child may step the clock by writing it too. */
  readonly file: string;
  /** Steps the wall clock of those processes: '-1h', '+1h', '+0' (libfaketime's offsets). */
  step(offset: string): void;
}

/** A wall clock at the real time ('+0') in `dir`, to be stepped with step(). */
export function steppedClock(dir: string): SteppedClock {
  const file = join(dir, `faketime-${process.pid}-${Math.random().toString(36).slice(2)}.rc`);
  const step = (offset: string) => writeFileSync(file, `${offset}\n`);
  step('+0');
  return {
    env: {
      LD_PRELOAD: [process.env.LD_PRELOAD, library()].filter(Boolean).join(' '),
      FAKETIME_TIMESTAMP_FILE: file,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    },
    file,
    step,
  };
}
