#!/usr/bin/env node
// The entry does one thing before loading the launcher: it catches the stop signals. As PID 1
// (a container) the kernel drops a signal that has no handler, and loading the rest takes tens
// of milliseconds in which a `docker stop` would be lost; elsewhere the default action would
// kill the launcher half-way, leaving socket files behind. So nothing is imported statically
// here, and what arrives is recorded for the supervisor to act on once it runs.
const EARLY_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP'] as const;

const argv = process.argv.slice(2);
// ExecReload= runs `reload` beside a starting successor: load nothing more, and let its stop
// signals keep their default action (systemd's timeout SIGTERM must end it).
const launched =
  argv[0] === 'reload'
    ? import('./reload.js').then(({ reload }) => reload(argv.slice(1)))
    : (() => {
        const recorded: NodeJS.Signals[] = [];
        const record = (signal: NodeJS.Signals): void => void recorded.push(signal);
        for (const signal of EARLY_SIGNALS) process.on(signal, record);
        // Called by the supervisor once its own handlers are in place: no signal falls between.
        const takeEarlySignals = (): NodeJS.Signals[] => {
          for (const signal of EARLY_SIGNALS) process.off(signal, record);
          return recorded.splice(0);
        };
        return import('./launch.js').then(({ launch }) => launch(argv, takeEarlySignals));
      })();

launched.then(
  (code) => {
    process.exitCode = code;
  },
  async (err: unknown) => {
    const e = err as { code?: string; message?: string };
    process.exitCode = e.code === 'ERR_LAUNCHER_USAGE' ? 2 : 1;
    const { stderrLines } = await import('../journal.js');
    process.stderr.write(stderrLines(`socket-activation: ${e.message ?? String(err)}${e.code && !e.message?.startsWith(e.code) ? ` [${e.code}]` : ''}`, 'err'));
  },
);
