import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

/** pino JSON on stderr; pretty-printed when stderr is a terminal. */
export function makeLogger(level: string): Logger {
  if (process.stderr.isTTY) {
    return pino({ level }, pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname' }));
  }
  return pino({ level }, pino.destination({ fd: 2, sync: true }));
}
