import { inspect } from '../descriptor.js';
import { native } from '../native.js';

/** One fd kept by the supervisor across child restarts. */
export interface StoredFd {
  readonly name: string;
  readonly fd: number;
  readonly dev: number;
  readonly ino: number;
}

/**
 * The supervisor's fd store, with systemd's rules: named entries handed to the next child
 * after the listeners, newest first; an fd already stored (same file) is ignored; fds over the
 * limit are refused (systemd drops them silently; the supervisor also warns); FDSTOREREMOVE
 * closes every entry of a name; everything is closed when the supervisor stops.
 */
export class FdStore {
  private entries: StoredFd[] = [];

  constructor(readonly max: number) {}

  /** Takes ownership of `fd`: stores it, or closes it and says why not. */
  add(name: string, fd: number): 'stored' | 'duplicate' | 'full' {
    let d;
    try {
      d = inspect(fd);
    } catch {
      native().close(fd);
      return 'duplicate';
    }
    if (this.entries.some((e) => e.dev === d.dev && e.ino === d.ino)) {
      native().close(fd);
      return 'duplicate';
    }
    if (this.entries.length >= this.max) {
      native().close(fd);
      return 'full';
    }
    this.entries.unshift({ name, fd, dev: d.dev, ino: d.ino });
    return 'stored';
  }

  /** Closes and forgets every entry named `name`; returns how many. */
  remove(name: string): number {
    const gone = this.entries.filter((e) => e.name === name);
    for (const e of gone) native().close(e.fd);
    this.entries = this.entries.filter((e) => e.name !== name);
    return gone.length;
  }

  /** Entries, newest first. */
  list(): readonly StoredFd[] {
    return this.entries;
  }

  closeAll(): void {
    for (const e of this.entries) native().close(e.fd);
    this.entries = [];
  }
}
