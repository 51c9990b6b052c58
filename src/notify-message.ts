import { shownValue, SocketActivationError } from './errors.js';

/** A value of one notify assignment: numbers are written in decimal, `true` as `1`. */
export type NotifyValue = string | number | bigint | true;

/** Assignments of one notify message, sent together (in this order) in one datagram. */
export type NotifyFields = Readonly<Record<string, NotifyValue>>;

// systemd reads a message as newline-separated KEY=VALUE lines; its keys are upper-case
// environment-style names.
const KEY = /^[A-Z_][A-Z0-9_]*$/;
// What the manager's parser (strv_split_newlines, measured on systemd 252) does not take
// literally: it splits at \r as well as \n, a backslash escapes the next character (a\b
// arrives as ab, an escaped newline joins two lines, a trailing backslash makes it drop the
// whole message), and a NUL byte makes it ignore the message.
const SPECIAL = /[\n\r\0\\]/;
/** systemd's NOTIFY_BUFFER_MAX (PIPE_BUF): the manager ignores a longer datagram entirely. @internal */
export const MESSAGE_MAX = 4096;
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
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
      // 2 ** 64 would be sent as 18446744073709552000, and 1e21 as "1e+21".
      throw messageError(`${key}=${value}: a number beyond ±${Number.MAX_SAFE_INTEGER} is not exact (nor written in decimal past 1e21): pass it as a bigint (${key}: ${BigInt(value)}n is what this number holds).`, {
        key,
        expected: 'a safe integer, or a bigint',
        found: value,
      });
    }
    if (!Number.isSafeInteger(value)) {
      throw messageError(`${key}=${value}: expected an integer, found ${value}. Notify values that are numbers are counts, pids or microseconds.`, {
        key,
        expected: 'an integer',
        found: value,
      });
    }
    text = String(value);
  } else if (typeof value === 'string') text = value;
  else {
    // typeof says "object" for null and "boolean" for false, which reads as if true were refused too.
    const kind = value === null ? 'null' : value === false ? 'false' : typeof value;
    throw messageError(`${key}: expected a string, a number, a bigint or true, found ${kind}.`, { key, expected: 'string | number | bigint | true', found: kind });
  }
  const at = text.search(SPECIAL);
  if (at >= 0) {
    throw messageError(`${key}=${JSON.stringify(text)} contains ${special(text[at]!)} at index ${at}. Remove it; for STATUS= text, replace line breaks with spaces.`, {
      key,
      expected: 'one line without \\n, \\r, \\ or NUL',
      found: text,
    });
  }
  return text;
}

// What the manager would make of a character it does not take literally.
function special(c: string): string {
  if (c === '\n') return 'a newline: the manager would read what follows as another assignment';
  if (c === '\r') return 'a carriage return: the manager splits lines at \\r too, so it would read what follows as another assignment';
  if (c === '\\') return 'a backslash: the manager reads backslash escapes (a\\b arrives as ab, and a backslash before a line break or at the end loses assignments)';
  return 'a NUL byte: the manager ignores a message that holds one';
}

function checkLength(message: string): string {
  const bytes = Buffer.byteLength(message, 'utf8');
  if (bytes > MESSAGE_MAX) {
    throw messageError(`The notify message is ${bytes} bytes long: the manager ignores a message over ${MESSAGE_MAX} bytes entirely. Shorten it (usually the STATUS= text).`, {
      expected: `at most ${MESSAGE_MAX} bytes`,
      found: bytes,
    });
  }
  return message;
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
 * Encodes assignments as one notify message (`KEY=VALUE` lines). A value can never add,
 * change or lose an assignment: newlines, carriage returns, backslashes and NUL bytes are
 * refused, and so is a message the manager would ignore for its size (over 4096 bytes).
 *
 * @throws ERR_NOTIFY_MESSAGE for an invalid key or value, no assignment at all, or too long a
 * message, or a value that is not a string, a number, a bigint or true; ERR_FDNAME for an
 * FDNAME= systemd would not take.
 */
export function encodeFields(fields: NotifyFields): string {
  const lines: string[] = [];
  for (const key of Object.keys(fields)) {
    checkKey(key);
    const text = valueText(key, fields[key]!);
    if (key === 'FDNAME') checkFdName(text);
    lines.push(`${key}=${text}`);
  }
  if (lines.length === 0) throw messageError('A notify message needs at least one assignment, such as READY=1.', { expected: 'KEY=VALUE', found: '' });
  return checkLength(lines.join('\n'));
}

/**
 * Checks a message written by hand (`'READY=1\nSTATUS=up'`): every line must be one
 * `KEY=VALUE` assignment, with no carriage return, backslash or NUL byte (the manager does not
 * take them literally), and the message at most 4096 bytes. A trailing newline is allowed.
 *
 * @throws ERR_NOTIFY_MESSAGE naming the first bad line or character; ERR_FDNAME as {@link encodeFields}.
 */
export function checkRawMessage(message: string): string {
  if (typeof message !== 'string') {
    throw messageError(`A notify message must be a string, found ${typeof message}.`, { expected: 'string', found: typeof message });
  }
  const at = message.search(/[\r\0\\]/);
  if (at >= 0) {
    throw messageError(`The notify message contains ${special(message[at]!)} (index ${at}). Remove it.`, { expected: 'no \\r, \\ or NUL', found: message });
  }
  checkLength(message);
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
    if (line.slice(0, eq) === 'FDNAME') checkFdName(line.slice(eq + 1));
  });
  return message;
}

/**
 * Checks an fd store name by systemd's rule (`fdname_is_valid`): 1 to 255 ASCII characters,
 * no control characters, no `:`; and no backslash, which the manager's message parser would
 * take as an escape (`a\b` would be stored as `ab`). systemd silently ignores a bad FDNAME
 * (the fd is then stored under a default name); this package refuses it instead.
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
      else if (c === 0x5c) problem = `it contains a backslash at index ${i} (the manager would read it as an escape and store another name)`;
      if (problem) break;
    }
  }
  if (problem) {
    throw new SocketActivationError(
      'ERR_FDNAME',
      `The fd name ${shownValue(name)} is not valid: ${problem}. Expected 1 to ${FDNAME_MAX} ASCII characters without control characters, ':' or '\\' ` +
        '(systemd would silently store the fd under another name).',
      { expected: `1..${FDNAME_MAX} ASCII characters, no control characters, no ':', no '\\'`, found: name },
    );
  }
  return name;
}
