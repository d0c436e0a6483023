// The authenticated user of a request, once authentication exists: an auth middleware sets
// `ctx.state.user` (a name, or an object with a `name`). Until then every request is anonymous.
import type { Context } from 'koa';

export function requestUser(ctx: Context): string | undefined {
  const user: unknown = ctx.state.user;
  if (typeof user === 'string') return user || undefined;
  if (user && typeof user === 'object') {
    const name = (user as { name?: unknown; username?: unknown }).name ?? (user as { username?: unknown }).username;
    if (typeof name === 'string' && name) return name;
  }
  return undefined;
}
