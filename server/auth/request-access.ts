// What the caller of a request may read beyond the repository its route names. The access check
// (registry-auth.ts) approves the route's own repository; a handler that takes content from a
// second repository (a cross-repository mount's `from`) asks here. Without access control on
// the server nothing is set and every repository is readable.
import type { Context } from 'koa';

const KEY = 'mayPull';

export function setPullCheck(ctx: Context, check: (repository: string) => boolean): void {
  ctx.state[KEY] = check;
}

/** Whether the caller may pull `repository`. */
export function mayPull(ctx: Context, repository: string): boolean {
  const check = ctx.state[KEY] as ((repository: string) => boolean) | undefined;
  return check ? check(repository) : true;
}

/** Whether access control decides what this caller may read (then no repository is readable by default). */
export function accessControlled(ctx: Context): boolean {
  return ctx.state[KEY] !== undefined;
}
