// The `stevedore` command. A bare `stevedore --help` or `--version` is answered from the text in
// cli/root-help.ts without loading commander or any command module (they are timed against
// `node -e 0`: loading the declarations of ~60 commands costs several times Node's own start-up);
// `run`, `images`, `ps` and `tags` (also timed) run without commander when their line is one commander
// would accept (cli/light-commands.ts); every other command line is parsed by cli/program.ts.
const args = process.argv.slice(2);
const only = args.length === 1 ? args[0] : undefined;
// The texts load only when asked for: the other commands do not need them.
if (only === '--help' || only === '-h' || only === 'help') process.stdout.write((await import('./root-help.js')).ROOT_HELP);
else if (only === '--version' || only === '-V') process.stdout.write(`${(await import('./root-help.js')).VERSION}\n`);
// `run` is parsed without commander when it can be (cli/engine-run.ts): its start-up is timed against runc.
else if (!(await quickCommand())) await (await import('./program.js')).runCli(process.argv);

/** Whether the line was a plain run, images, ps or tags, handled without commander. */
async function quickCommand(): Promise<boolean> {
  if (args[0] === 'run') return (await import('./engine-run.js')).quickRun(args.slice(1));
  return (await import('./light-commands.js')).runLight(args);
}
