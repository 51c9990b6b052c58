// Priorities for lines on stderr, as journald reads them.
import { fstatSync } from 'node:fs';

/** The syslog priorities used, as sd-daemon.h's SD_ERR, SD_WARNING and SD_INFO. */
export type Priority = 'err' | 'warning' | 'info';

const LEVELS: Record<Priority, number> = { err: 3, warning: 4, info: 6 };

/**
 * Whether stderr is the stream systemd connected to the journal: JOURNAL_STREAM names its device
 * and inode (systemd.exec(5)). Only there is a `<N>` prefix read as the line's priority
 * (SyslogLevelPrefix=, on by default); on a terminal or in `docker logs` it would be noise. Its
 * children inherit the variable and, with stderr, the match.
 */
export function stderrIsJournal(): boolean {
  const m = /^(\d+):(\d+)$/.exec(process.env.JOURNAL_STREAM ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(2, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

/**
 * `text` as stderr lines at `priority`: prefixed with `<N>` where stderr goes to the journal, so
 * that `journalctl -p warning` shows warnings and errors. Every line gets one, so that a line of
 * a multi-line message, or one that begins with `<` from user data, is not taken as another
 * priority (or at info).
 */
export function stderrLines(text: string, priority: Priority): string {
  if (!stderrIsJournal()) return `${text}\n`;
  return text
    .split('\n')
    .map((line) => `<${LEVELS[priority]}>${line}\n`)
    .join('');
}
