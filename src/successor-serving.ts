import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Set by the `socket-activation` supervisor for its children: its private directory, where it
 * marks a child whose replacement already serves (a reload) right before sending it SIGTERM.
 */
export const SUPERVISOR_DIR_VARIABLE = 'SOCKET_ACTIVATION_SUPERVISOR_DIR';

// Read once, at load: `unsetEnvironment` removes the variable from process.env (children this
// process spawns are not the supervisor's), and this process still needs it for its drain and
// passes it on to a hot upgrade's successor, which becomes the supervisor's child in its place.
const supervisorDir = process.env[SUPERVISOR_DIR_VARIABLE] || undefined;

/** The supervisor's directory this process was started with, if any. @internal */
export function supervisorDirectory(): string | undefined {
  return supervisorDir;
}

/** Removes the variable from process.env, for `unsetEnvironment`. @internal */
export function unsetSupervisorDirectory(): void {
  delete process.env[SUPERVISOR_DIR_VARIABLE];
}

/** The file that tells child `pid` that a new child serves in its place. @internal */
export function successorMarker(dir: string, pid: number): string {
  return join(dir, `successor-serves.${pid}`);
}

/**
 * Whether the supervisor that started this process has said that a new child serves in its
 * place, so that a drain may keep idle connections a little (see `drain()`'s `linger`). Under
 * systemd there is no such word: a stop there may be a restart, which waits for this process.
 * @internal
 */
export function successorServing(): boolean {
  return supervisorDir !== undefined && existsSync(successorMarker(supervisorDir, process.pid));
}
