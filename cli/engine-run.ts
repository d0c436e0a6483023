// `stevedore run …` without commander (cli/main.ts sends a command line starting with `run` here):
// engine-run-flags.ts parses it by commander's rules, and the action is the one commander would
// call. A line it does not take (help, an unknown option, a missing value) goes to commander.
import { parseRunLine } from './engine-run-flags.js';
import { resolveRoot } from '../engine/root.js';

/** Runs `run`'s arguments (those after `run`); false when commander should parse them instead. */
export async function quickRun(args: string[]): Promise<boolean> {
  const line = parseRunLine(args);
  if (!line) return false;
  try {
    const { runIn } = await import('./engine-container-actions.js');
    await runIn(resolveRoot(undefined), line.image, line.command, line.flags as never);
  } catch (err) {
    // What commander's runCli does with an error out of an action: one line, never a stack trace.
    const { errorReport } = await import('./error-report.js');
    const report = errorReport(err, { plain: true });
    console.error(`stevedore: ${report.line}`);
    if (process.env.STEVEDORE_DEBUG) console.error((err as Error)?.stack);
    process.exit(report.code);
  }
  return true;
}
