import { SocketActivationError } from './errors.js';

/** A value of one notify assignment: numbers are written in decimal, `true` as `1`. */
export type NotifyValue = string | number | bigint | true;

/** Assignments of one notify message, sent together (in this order) in one datagram. */
export type NotifyFields = Readonly<Record<string, NotifyValue>>;

// systemd reads a message as newline-separated KEY=VALUE lines; its keys are upper-case
// environment-style names.
const KEY = /^[A-Z_][A-Z0-9_]*$/;
// fdname_is_valid(): ASCII without control characters and without ':', the LISTEN_FDNAMES separator.
const FDNAME_MAX = 255;

function messageError(message: string, fields: Record<string, unknown>): SocketActivationError {
  return new SocketActivationError('ERR_NOTIFY_MESSAGE', message, fields);
}

function valueText(key: string, value: NotifyValue): string {
  let text: string;
  if (value === true) text = '1';
  else if (typeof value === 'bigint') text = value.toString();
  else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw messageError(`${key}=${value}: expected an integer, found ${value}. Notify values that are numbers are counts, pids or microseconds.`, {
        key,
        expected: 'an integer',
        found: value,
      });
    }
    text = String(value);
  } else if (typeof value === 'string') text = value;
  else throw messageError(`${key}: expected a string, a number, a bigint or true, found ${typeof value}.`, { key, expected: 'string | number | bigint | true', found: typeof value });
  const at = text.search(/[\n\0]/);
  if (at >= 0) {
    const what = text[at] === '\n' ? 'a newline' : 'a NUL byte';
    throw messageError(
      `${key}=${JSON.stringify(text)} contains ${what} at index ${at}: the manager would read what follows as another assignment (or stop reading). ` +
        'Remove it; for STATUS= text, replace line breaks with spaces.',
      { key, expected: 'one line without NUL', found: text },
    );
  }
  return text;
}

function checkKey(key: string): void {
  if (!KEY.test(key)) {
    throw messageError(`Notify key ${JSON.stringify(key)} is not valid: expected upper-case letters, digits and _ (like READY or STATUS).`, {
      key,
      expected: '[A-Z_][A-Z0-9_]*',
      found: key,
    });
  }
}

/**
 * Encodes assignments as one notify message (`KEY=VALUE` lines). A value can never add an
 * assignment of its own: newlines and NUL bytes are refused.
 *
 * @throws ERR_NOTIFY_MESSAGE for an invalid key or value, or no assignment at all.
 */
export function encodeFields(fields: NotifyFields): string {
  const lines: string[] = [];
  for (const key of Object.keys(fields)) {
    checkKey(key);
    lines.push(`${key}=${valueText(key, fields[key]!)}`);
  }
  if (lines.length === 0) throw messageError('A notify message needs at least one assignment, such as READY=1.', { expected: 'KEY=VALUE', found: '' });
  return lines.join('\n');
}

/**
 * Checks a message written by hand (`'READY=1\nSTATUS=up'`): every line must be one
 * `KEY=VALUE` assignment and there must be no NUL byte. A trailing newline is allowed.
 *
 * @throws ERR_NOTIFY_MESSAGE naming the first bad line.
 */
export function checkRawMessage(message: string): string {
  if (typeof message !== 'string') {
    throw messageError(`A notify message must be a string, found ${typeof message}.`, { expected: 'string', found: typeof message });
  }
  const nul = message.indexOf('\0');
  if (nul >= 0) {
    throw messageError(`The notify message has a NUL byte at index ${nul}; the manager stops reading there. Remove it.`, { expected: 'no NUL', found: message });
  }
  const lines = message.endsWith('\n') ? message.slice(0, -1).split('\n') : message.split('\n');
  lines.forEach((line, i) => {
    const eq = line.indexOf('=');
    if (eq <= 0 || !KEY.test(line.slice(0, eq))) {
      throw messageError(`Line ${i + 1} of the notify message, ${JSON.stringify(line)}, is not a KEY=VALUE assignment (such as READY=1).`, {
        line: i + 1,
        expected: 'KEY=VALUE',
        found: line,
      });
    }
  });
  return message;
}

/**
 * Checks an fd store name by systemd's rule (`fdname_is_valid`): 1 to 255 ASCII characters,
 * no control characters, no `:`. systemd silently ignores a bad FDNAME (the fd is then stored
 * under a default name); this package refuses it instead.
 *
 * @throws ERR_FDNAME
 */
export function checkFdName(name: string): string {
  let problem: string | undefined;
  if (typeof name !== 'string') problem = `it is a ${typeof name}, not a string`;
  else if (name.length === 0) problem = 'it is empty';
  else if (name.length > FDNAME_MAX) problem = `it is ${name.length} characters long`;
  else {
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      if (c === 0x3a) problem = `it contains ':' at index ${i} (the LISTEN_FDNAMES separator)`;
      else if (c < 0x20 || c === 0x7f) problem = `it contains the control character 0x${c.toString(16).padStart(2, '0')} at index ${i}`;
      else if (c > 0x7f) problem = `it contains the non-ASCII character ${JSON.stringify(name[i])} at index ${i}`;
      if (problem) break;
    }
  }
  if (problem) {
    throw new SocketActivationError(
      'ERR_FDNAME',
      `The fd name ${JSON.stringify(name)} is not valid: ${problem}. Expected 1 to ${FDNAME_MAX} ASCII characters without control characters or ':' ` +
        '(systemd would silently store the fd under another name).',
      { expected: `1..${FDNAME_MAX} ASCII characters, no control characters, no ':'`, found: name },
    );
  }
  return name;
}
