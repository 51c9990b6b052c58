// How systemd's manager reads a notify datagram, as measured with systemd 252 (the checks in
// test/notify-parser-systemd.test.ts hold this model against a real manager): ignored whole
// when over 4096 bytes or holding a NUL byte before its last byte; otherwise split into
// assignments by strv_split_newlines(), i.e. extract_first_word() with separators \n and \r
// and no flags: runs of separators are one break (leading ones skipped), a backslash takes the
// next byte literally (an escaped \n or \r does not split), and a backslash at the very end
// fails the split, which drops the whole message.

/** The assignments the manager acts on, or why it ignores the message. */
export function systemdNotifyTags(message: Uint8Array): { readonly tags: string[] } | { readonly ignored: string } {
  if (message.length > 4096) return { ignored: 'over 4096 bytes' };
  if (message.length > 1 && message.subarray(0, message.length - 1).includes(0)) return { ignored: 'a NUL byte' };
  const end = message[message.length - 1] === 0 ? message.length - 1 : message.length;
  const tags: string[] = [];
  let i = 0;
  for (;;) {
    while (i < end && (message[i] === 0x0a || message[i] === 0x0d)) i++;
    if (i >= end) return { tags };
    const word: number[] = [];
    while (i < end) {
      const c = message[i]!;
      if (c === 0x5c) {
        if (i + 1 >= end) return { ignored: 'a backslash at the end' };
        word.push(message[i + 1]!);
        i += 2;
      } else if (c === 0x0a || c === 0x0d) {
        i++;
        break;
      } else {
        word.push(c);
        i++;
      }
    }
    tags.push(Buffer.from(word).toString('utf8'));
  }
}

/**
 * systemd's fdname_is_valid() rule as documented for FileDescriptorName= (systemd.socket(5)):
 * up to 255 ASCII characters, no control characters, no ':'.
 */
export function systemdFdNameValid(name: string): boolean {
  return name.length <= 255 && /^[\x20-\x39\x3b-\x7e]*$/.test(name);
}
