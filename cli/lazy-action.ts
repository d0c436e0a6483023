// Commander actions whose implementation is loaded when the command runs: a command module
// declares options only, so declaring it (for its help, or to run a sibling command) loads none of
// the engine or the client.

/** `lazyAction(() => import('./x-actions.js'))('fooCommand')`: an action calling x-actions' fooCommand. */
export function lazyAction<M>(load: () => Promise<M>): (name: keyof M) => (...args: unknown[]) => Promise<void> {
  return (name) =>
    async (...args) =>
      ((await load())[name] as (...a: unknown[]) => Promise<void>)(...args);
}
