// The `stevedore` command. A bare `stevedore --help` or `--version` is answered from the text in
// cli/root-help.ts without loading commander or any command module (they are timed against
// `node -e 0`: loading the declarations of ~60 commands costs several times Node's own start-up);
// every other command line is parsed by cli/program.ts.
import { ROOT_HELP, VERSION } from './root-help.js';

const args = process.argv.slice(2);
const only = args.length === 1 ? args[0] : undefined;
if (only === '--help' || only === '-h' || only === 'help') process.stdout.write(ROOT_HELP);
else if (only === '--version' || only === '-V') process.stdout.write(`${VERSION}\n`);
// `run` is parsed without commander when it can be (cli/engine-run.ts): its start-up is timed against runc.
else if (!(args[0] === 'run' && (await (await import('./engine-run.js')).quickRun(args.slice(1))))) await (await import('./program.js')).runCli(process.argv);
