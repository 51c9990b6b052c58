import { inspect, isSameFile } from '../descriptor.js';
import { native, PollState } from '../native.js';

/** One fd kept by the supervisor across child restarts. */
export interface StoredFd {
  readonly name: string;
  readonly fd: number;
  readonly dev: number;
  readonly ino: number;
  /** Dropped when it hangs up (systemd's default; FDPOLL=0 turns it off). */
  readonly poll: boolean;
}

/**
 * The supervisor's fd store, with systemd's rules: named entries handed to the next child
 * after the listeners, newest first; an fd already stored (the same open file description,
 * not merely the same inode) is ignored; fds over the
 * limit are refused (systemd drops them silently; the supervisor also warns); FDSTOREREMOVE
 * closes every entry of a name; an entry whose fd hangs up (POLLHUP or POLLERR: a connection
 * reset by its peer, for one) is closed unless it was stored with FDPOLL=0; everything is
 * closed when the supervisor stops.
 */
export class FdStore {
  private entries: StoredFd[] = [];

  constructor(readonly max: number) {}

  /** Takes ownership of `fd`: stores it, or closes it and says why not. */
  add(name: string, fd: number, poll = true): 'stored' | 'duplicate' | 'full' {
    let d;
    try {
      d = inspect(fd);
    } catch {
      native().close(fd);
      return 'duplicate';
    }
    // One open file already stored, as systemd tells (kcmp): not the same inode, which every
    // eventfd shares and a file opened twice has.
    if (this.entries.some((e) => native().sameFile(e.fd, fd) === 1)) {
      native().close(fd);
      return 'duplicate';
    }
    if (this.entries.length >= this.max) {
      native().close(fd);
      return 'full';
    }
    this.entries.unshift({ name, fd, dev: d.dev, ino: d.ino, poll });
    return 'stored';
  }

  /** Closes and forgets every entry named `name`; returns how many. */
  remove(name: string): number {
    const gone = this.entries.filter((e) => e.name === name);
    for (const e of gone) native().close(e.fd);
    this.entries = this.entries.filter((e) => e.name !== name);
    return gone.length;
  }

  /**
   * Closes and forgets the watched entries whose fd hung up, as systemd does on EPOLLHUP or
   * EPOLLERR; returns them. systemd learns it from its event loop at once; the supervisor asks
   * with one poll() over the store (every second, and before a child gets the store). An
   * entry whose fd is no longer the file stored (closed, or its number reused: a bug
   * elsewhere) is forgotten without closing anything.
   */
  sweep(): { entry: StoredFd; why: 'hung-up' | 'not-ours' }[] {
    const watched = this.entries.filter((e) => e.poll);
    if (watched.length === 0) return [];
    const states = native().pollNow(Int32Array.from(watched, (e) => e.fd), false);
    if (typeof states === 'number') return [];
    const gone: { entry: StoredFd; why: 'hung-up' | 'not-ours' }[] = [];
    watched.forEach((entry, i) => {
      if (states[i] === 0) return;
      const ours = states[i]! & PollState.HUNG_UP && isSameFile(entry.fd, entry);
      if (ours) native().close(entry.fd);
      gone.push({ entry, why: ours ? 'hung-up' : 'not-ours' });
    });
    this.entries = this.entries.filter((e) => !gone.some((g) => g.entry === e));
    return gone;
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
